package ccr

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzGeminiStream feeds arbitrary upstream bytes to the Gemini stream
// converter: it must not panic or loop, must end with io.EOF or an error,
// and what it emits must satisfy the Anthropic stream invariants. The
// committed corpus is in testdata/fuzz/FuzzGeminiStream.
func FuzzGeminiStream(f *testing.F) {
	dirs, _ := filepath.Glob("testdata/gemini/stream/*/upstream.sse")
	for _, p := range dirs {
		if b, err := os.ReadFile(p); err == nil && len(b) < 4096 {
			f.Add(b)
			f.Add(crlf(b))
		}
	}
	g := newGemini(GeminiOptions{}, "gemini")
	req := &Request{Model: "gemini-2.5-flash", ClientModel: "gemini,gemini-2.5-flash",
		Tools: []Tool{{Name: "a b"}, {Name: "read"}}}
	f.Fuzz(func(t *testing.T, data []byte) {
		out := g.TransformStream(t.Context(), req, sseReaderFor(bytes.NewReader(data)))
		var evs []Event
		for i := 0; ; i++ {
			if i > 10*len(data)+10 {
				t.Fatalf("more events than input bytes allow")
			}
			ev, err := out.ReadEvent()
			if err == io.EOF {
				checkStreamInvariants(t, evs, true)
				return
			}
			if err != nil {
				var e *Error
				if !errors.As(err, &e) && !errors.Is(err, ErrTruncated) {
					t.Fatalf("error %v is neither an *Error nor ErrTruncated", err)
				}
				checkStreamInvariants(t, evs, false)
				return
			}
			evs = append(evs, ev)
		}
	})
}
