package bpe

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/pkoukk/tiktoken-go"
	tiktoken_loader "github.com/pkoukk/tiktoken-go-loader"
	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// benchInputs returns the texts the benchmarks encode: the text of a
// generated Claude Code conversation (prose, code, tool output), this
// repository's Go source (real code with comments), and the varied
// generated text of TestMatchesTiktoken (scripts, emoji, invalid UTF-8).
func benchInputs(b *testing.B) map[string][]byte {
	b.Helper()
	conv, err := os.ReadFile(filepath.Join("..", "..", "testdata", "tokens", "conversation.txt"))
	if err != nil {
		b.Fatal(err)
	}
	var code []byte
	for _, pattern := range []string{"../../*.go", "*.go"} {
		files, _ := filepath.Glob(pattern)
		for _, f := range files {
			src, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			code = append(code, src...)
		}
	}
	return map[string][]byte{
		"conversation": conv,
		"code":         code,
		"mixed":        generate(rand.New(rand.NewPCG(3, 4)), 128<<10),
	}
}

func BenchmarkCount(b *testing.B) {
	e := CL100kBase()
	for name, in := range benchInputs(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				e.Count(in)
			}
		})
	}
}

func BenchmarkCountString(b *testing.B) {
	e := CL100kBase()
	for name, in := range benchInputs(b) {
		s := string(in)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				e.CountString(s)
			}
		})
	}
}

func BenchmarkEncode(b *testing.B) {
	e := CL100kBase()
	for name, in := range benchInputs(b) {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				e.Encode(in)
			}
		})
	}
}

// BenchmarkTiktokenGo is the baseline: tiktoken-go on the same inputs.
func BenchmarkTiktokenGo(b *testing.B) {
	tk := ref(b)
	for name, in := range benchInputs(b) {
		s := string(in)
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			b.ReportAllocs()
			for b.Loop() {
				tk.EncodeOrdinary(s)
			}
		})
	}
}

// BenchmarkLoad measures loading the vocabulary, which happens once per
// process.
func BenchmarkLoad(b *testing.B) {
	data, err := assets.Assets.ReadFile("cl100k_base.tiktoken")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadTiktokenGo is the baseline for BenchmarkLoad.
func BenchmarkLoadTiktokenGo(b *testing.B) {
	tiktoken.SetBpeLoader(tiktoken_loader.NewOfflineLoader())
	b.ReportAllocs()
	for b.Loop() {
		// GetEncoding caches the ranks but compiles the pattern and builds
		// the decoder and sorted token list on every call.
		if _, err := tiktoken.GetEncoding(tiktoken.MODEL_CL100K_BASE); err != nil {
			b.Fatal(err)
		}
	}
}
