package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// referenceToolResult is toolResult as it was before tool messages were
// encoded from the body's tokens: every text decoded with encoding/json,
// joined, and encoded again. It returns the encoded content.
func referenceToolResult(t *openAI, b *ContentBlock) ([]byte, []oaPart) {
	text, media := func() (string, []oaPart) {
		raw := bytes.TrimSpace(b.Content)
		if len(raw) == 0 || string(raw) == "null" {
			return "", nil
		}
		if raw[0] == '"' {
			s, _ := jsonString(raw)
			return s, nil
		}
		var items []resultItem
		if raw[0] != '[' || json.Unmarshal(raw, &items) != nil {
			return string(raw), nil
		}
		var texts []string
		var media []oaPart
		for i := range items {
			it := &items[i]
			switch it.Type {
			case "text":
				if it.Text != "" {
					texts = append(texts, it.Text)
				}
			case "image":
				if p, ok := t.imagePart(context.Background(), it.source()); ok {
					media = append(media, p)
				}
			case "document":
				media = append(media, t.documentParts(context.Background(), it.source(), it.Title)...)
			case "search_result":
				if s := referenceBlockTexts(it.Content, "\n"); s != "" {
					texts = append(texts, s)
				}
			case "tool_reference":
				texts = append(texts, "tool_reference: "+it.ToolName)
			}
		}
		return strings.Join(texts, "\n"), media
	}()
	if b.IsError {
		text = "Error: " + text
	}
	return jsonraw.AppendString(nil, text), media
}

func referenceBlockTexts(raw json.RawMessage, sep string) string {
	var items []resultItem
	if json.Unmarshal(raw, &items) != nil {
		return ""
	}
	var texts []string
	for _, it := range items {
		if it.Type == "text" && it.Text != "" {
			texts = append(texts, it.Text)
		}
	}
	return strings.Join(texts, sep)
}

var toolResultCases = []string{
	``, `null`, ` "x" `, `""`, `"plain"`, `"a\nb\t\"c\"\\d"`, `"\u003chtml\u003e \/ \u00e9 \ud83d\ude00 \u2028 \u001f \u0008"`,
	"\"caf\xc3\xa9 \xe2\x86\x92 \xe2\x80\xa8\"", "\"bad \xff utf8\"", `"unterminated`, `"a" "b"`, `42`, `{"type":"text"}`,
	`[]`, `[{"type":"text","text":"one"}]`, `[{"type":"text","text":"one"},{"type":"text","text":"two\n"}]`,
	`[{"type":"text","text":""},{"type":"text","text":null},{"type":"text","text":"\u003c"}]`,
	`[{"type":"text","text":5}]`, `[{"type":"text","Text":"case"}]`, `[{"type":"text","text":"a","text":"b"}]`,
	`[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBO"}},{"type":"text","text":"Captured."}]`,
	`[{"type":"search_result","source":"https://x","title":"t","content":[{"type":"text","text":"r1"},{"type":"text","text":"r2"}]}]`,
	`[{"type":"tool_reference","tool_name":"Read"},{"type":"text","text":"x"}]`, `[{"type":"document","source":{"type":"text","data":"doc"}}]`,
	`[null]`, `["s"]`, `[{"type":"text","text":"a"},]`, ` [ { "type" : "text" , "text" : "sp" } ] `, `[{"type":"unknown","x":[1,{"y":2}]}]`,
}

// FuzzToolResult pins tool messages to the reference: the same content
// bytes and the same media parts for any tool_result content.
func FuzzToolResult(f *testing.F) {
	for _, c := range toolResultCases {
		f.Add([]byte(c), false)
		f.Add([]byte(c), true)
	}
	tr := newOpenAI(OpenAIOptions{FileParts: true})
	f.Fuzz(func(t *testing.T, content []byte, isError bool) {
		b := &ContentBlock{Type: "tool_result", ToolUseID: "toolu_1", Content: content, IsError: isError}
		want, wantMedia := referenceToolResult(tr, b)
		c, media := tr.toolResult(t.Context(), b)
		var e oaEncoder
		e.message(&oaMessage{Role: "tool", Content: c})
		got := e.b[len(`{"role":"tool","content":`) : len(e.b)-1]
		if !bytes.Equal(got, want) {
			t.Fatalf("tool_result content %q (is_error %v):\n got %s\nwant %s", content, isError, got, want)
		}
		if !reflect.DeepEqual(media, wantMedia) {
			t.Fatalf("tool_result content %q: media %+v; want %+v", content, media, wantMedia)
		}
	})
}

// FuzzResultItems pins the fast decoding of tool_result items to
// encoding/json.
func FuzzResultItems(f *testing.F) {
	for _, c := range toolResultCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var want []resultItem
		werr := json.Unmarshal(raw, &want)
		got, err := decodeResultItems(raw)
		if (err == nil) != (werr == nil) {
			t.Fatalf("decodeResultItems(%q) error %v; encoding/json %v", raw, err, werr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("decodeResultItems(%q) = %d items; want %d", raw, len(got), len(want))
		}
		for i := range got {
			g := got[i]
			if g.rawText != nil {
				if _, canonical, _ := jsonraw.ScanCanonical(g.rawText, 0); canonical != g.canonical {
					t.Fatalf("item %d of %q: canonical %v", i, raw, g.canonical)
				}
			}
			g.Text, g.rawText, g.canonical = g.text(), nil, false
			if !reflect.DeepEqual(g, want[i]) {
				t.Fatalf("item %d of %q = %+v; want %+v", i, raw, g, want[i])
			}
		}
	})
}

// FuzzCompactArgs pins compactArgs to json.Compact.
func FuzzCompactArgs(f *testing.F) {
	for _, c := range []string{``, `{}`, ` { "a" : [ 1 , "x y" ] } `, `{"a":1}{}`, `{"a":`, `"s"`, "{\"k\":\"\xff <>&\"}"} {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := "{}"
		if len(raw) > 0 {
			var buf bytes.Buffer
			if json.Compact(&buf, raw) != nil {
				want = string(raw)
			} else {
				want = buf.String()
			}
		}
		if got := compactArgs(raw); got != want {
			t.Fatalf("compactArgs(%q) = %q; want %q", raw, got, want)
		}
	})
}

// FuzzJoinedText pins joined contents (the system message, user and
// assistant texts) to the encoding of the joined text.
func FuzzJoinedText(f *testing.F) {
	f.Add("You are a coding assistant.", "# Tone\n\"quotes\" \\ \t é → \u2028 \xff", "", uint8(3))
	f.Add("\xe2\x86", "\x92", "x", uint8(7))
	f.Fuzz(func(t *testing.T, a, b, c string, shape uint8) {
		var content Content
		for i, s := range []string{a, b, c} {
			if shape&(1<<i) != 0 {
				content = append(content, ContentBlock{Type: "text", Text: s})
			} else {
				content = append(content, ContentBlock{Type: "image"})
			}
		}
		for _, sep := range []string{"\n\n", "\n"} {
			want := jsonraw.AppendString(nil, content.Text(sep))
			var e oaEncoder
			e.message(&oaMessage{Role: "system", Content: textsContent(content, sep)})
			got := e.b[len(`{"role":"system","content":`) : len(e.b)-1]
			if !bytes.Equal(got, want) {
				t.Fatalf("texts %q:\n got %s\nwant %s", content.Text(sep), got, want)
			}
		}
		// With a prefix, as an error's tool message.
		want := jsonraw.AppendString(nil, "Error: "+a+"\n"+b)
		got := joinedContent("Error: ", "\n", []textPart{{s: a}, {s: b}}).join.appendTo(nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("prefixed %q, %q:\n got %s\nwant %s", a, b, got, want)
		}
	})
}

// FuzzOADecoderReuse pins a stream's decoder, which reuses the storage of
// a chunk for the next, to fresh decoding: lines of the input are decoded
// in turn with one decoder.
func FuzzOADecoderReuse(f *testing.F) {
	chunks := oaStreamChunks(f)
	for i := 0; i+3 <= len(chunks); i += 7 {
		f.Add(bytes.Join(chunks[i:i+3], []byte("\n")), false)
	}
	f.Add([]byte(`{"choices":[{"delta":{"tool_calls":[{"index":0},{"index":1}]}},{"message":{"content":"a"}}]}`+"\n"+
		`{"choices":[{"delta":{"content":"b"}}]}`+"\n"+`{"choices":[{"delta":{"tool_calls":[{"index":2}]}},{"delta":{}}],"id":"x"}`), true)
	f.Fuzz(func(t *testing.T, in []byte, skipID bool) {
		var d oaDecoder
		d.skipID = skipID
		var ch oaChunk
		for _, line := range bytes.Split(in, []byte("\n")) {
			var want oaChunk
			werr := decodeOAChunk(line, &want)
			err := d.decode(line, &ch)
			if skipID {
				// The id is not decoded on the fast path.
				want.ID = ""
				if new(oaChunk).decodeFast(line) != nil {
					ch.ID = ""
				}
			}
			if (err == nil) != (werr == nil) || err == nil && !reflect.DeepEqual(ch, want) {
				t.Fatalf("reused decoder: %s\n= %+v, %v\nwant %+v, %v", line, ch, err, want, werr)
			}
		}
	})
}

// FuzzToolsMemo pins the remembered tools arrays to encoding: requests
// whose tools differ from remembered ones by a byte are encoded afresh,
// and the memo holds no reference to a request's buffers.
func FuzzToolsMemo(f *testing.F) {
	f.Add("Read", "Reads a file.\n\"quoted\"", []byte(`{"type":"object","properties":{"path":{"type":"string"}}}`), uint8(0))
	f.Add("Edit", "", []byte(` { "type" : "object" } `), uint8(3))
	f.Add("x", "d", []byte(`{"a":[1,2`), uint8(5))
	f.Fuzz(func(t *testing.T, name, desc string, schema []byte, op uint8) {
		var memo toolsMemo
		tools := func() []oaTool {
			return []oaTool{
				{Type: "function", Function: oaFunction{Name: "first", Parameters: json.RawMessage(`{"type":"object"}`)}},
				{Type: "function", Function: oaFunction{Name: name, Description: desc, Parameters: bytes.Clone(schema), Strict: op&1 != 0}},
			}
		}
		check := func(r *oaRequest) {
			t.Helper()
			want, werr := encodeOARequest(r)
			got, gerr := encodeOARequestMemo(r, &memo)
			if (gerr == nil) != (werr == nil) || !bytes.Equal(got, want) {
				t.Fatalf("with the memo: %s, %v\nwithout: %s, %v", got, gerr, want, werr)
			}
		}
		r := &oaRequest{Model: "m", Tools: tools()}
		check(r) // remembered, if it encodes
		check(r) // from the memo
		// The request's buffer changes in place: a memo aliasing it would
		// now match and give the old bytes.
		if p := r.Tools[1].Function.Parameters; len(p) > 0 {
			p[len(p)/2] ^= byte(op) | 1
		}
		check(r)
		r.Tools = tools()
		switch op % 4 {
		case 1:
			r.Tools[1].Function.Description += "x"
		case 2:
			r.Tools[1].Function.Strict = !r.Tools[1].Function.Strict
		case 3:
			r.Tools = r.Tools[:1]
		}
		check(r)
	})
}

// TestToolsMemoConcurrent converts requests with a few tool sets from
// many goroutines with one transformer; -race checks the memo.
func TestToolsMemoConcurrent(t *testing.T) {
	t.Parallel()
	tr := newOpenAI(OpenAIOptions{})
	fresh := newOpenAI(OpenAIOptions{})
	reqs := make([]*Request, 6)
	want := make([][]byte, len(reqs))
	for i := range reqs {
		reqs[i] = &Request{Model: "m", MaxTokens: 1, Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}},
			Tools: []Tool{{Name: "Read", Description: strings.Repeat("d", i), InputSchema: json.RawMessage(`{"type":"object"}`)}}}
		up, err := fresh.TransformRequest(t.Context(), reqs[i])
		if err != nil {
			t.Fatal(err)
		}
		want[i] = up.Body
	}
	done := make(chan error)
	for g := range 8 {
		go func() {
			for n := range 200 {
				i := (g + n) % len(reqs)
				up, err := tr.TransformRequest(context.Background(), reqs[i])
				if err == nil && !bytes.Equal(up.Body, want[i]) {
					err = fmt.Errorf("request %d: %s; want %s", i, up.Body, want[i])
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}

// FuzzJSONString pins jsonString to what it did before it scanned once.
func FuzzJSONString(f *testing.F) {
	for _, c := range toolResultCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wok := func() (string, bool) {
			raw := bytes.TrimSpace(raw)
			if len(raw) < 2 || raw[0] != '"' {
				return "", false
			}
			if bytes.IndexByte(raw[1:len(raw)-1], '\\') < 0 && bytes.IndexByte(raw[1:len(raw)-1], '"') < 0 && utf8.Valid(raw) && !hasControl(raw) {
				return string(raw[1 : len(raw)-1]), true
			}
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return "", false
			}
			return s, true
		}()
		if got, ok := jsonString(raw); got != want || ok != wok {
			t.Fatalf("jsonString(%q) = %q, %v; want %q, %v", raw, got, ok, want, wok)
		}
	})
}
