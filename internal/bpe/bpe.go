// Package bpe is an exact and fast encoder for OpenAI's cl100k_base
// byte-pair encoding, the encoding the reference Claude Code Router counts
// tokens with.
//
// It produces the same token ids as github.com/pkoukk/tiktoken-go's
// EncodeOrdinary for every input, including invalid UTF-8 (each byte of an
// invalid sequence is read as U+FFFD, as Go's []rune conversion does) and
// text that looks like a special token such as "<|endoftext|>" (encoded as
// ordinary text). The equivalence is pinned by TestMatchesTiktoken and the
// differential fuzz target FuzzEncode.
//
// Two parts make it fast. The pre-tokeniser is a hand-written scanner
// equivalent to cl100k's regular expression
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// as evaluated by tiktoken-go's backtracking engine, with \s meaning
// [unicode.IsSpace] and \p{L}, \p{N} Go's [unicode.L] and [unicode.N]. The
// merge works over the same ranks from an open-addressing table, with a
// quadratic scan for short pieces and a heap for long ones, and allocates
// nothing for typical text.
//
// The ranks come from the BPE file embedded in
// github.com/pkoukk/tiktoken-go-loader; nothing is downloaded. They are
// loaded once per process, on first use or in the background after
// [Preload], and are immutable afterwards: an [Encoding] is safe for
// concurrent use.
package bpe

import (
	"encoding/base64"
	"errors"
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// An Encoding is a loaded cl100k_base vocabulary. It is immutable and safe
// for concurrent use.
type Encoding struct {
	arena  []byte   // token bytes, concatenated in rank order
	offs   []uint32 // token r is arena[offs[r]:offs[r+1]]
	table  []uint64 // open addressing, see entry; 0 is empty
	mask   uint64
	filter *[1 << filterBits / 64]uint64 // one bit per hash value, set for tokens
	maxLen int                           // longest token, in bytes

	byteRank [256]uint32
	pairRank []uint32        // rank of each two-byte token, indexed b0<<8|b1; noRank if none
	class    *[1 << 16]uint8 // character class of each rune below 0x10000

	pool sync.Pool // of *scratch
}

// noRank marks a byte string that is not a token.
const noRank = ^uint32(0)

// Character classes of the pre-tokeniser.
const (
	clsOther   uint8 = iota // not \s, \p{L} or \p{N}
	clsLetter               // \p{L}
	clsNumber               // \p{N}
	clsSpace                // \s other than \r and \n
	clsNewline              // \r or \n
)

var cl100k = sync.OnceValues(func() (*Encoding, error) {
	data, err := assets.Assets.ReadFile("cl100k_base.tiktoken")
	if err != nil {
		return nil, fmt.Errorf("bpe: read cl100k_base: %w", err)
	}
	return parse(data)
})

// CL100kBase returns the cl100k_base encoding, loading it on the first call
// (about 10 ms). Later calls return the same value at once.
//
// It panics if the vocabulary embedded in the binary is corrupt, which is a
// build defect, not a run-time condition.
func CL100kBase() *Encoding {
	e, err := cl100k()
	if err != nil {
		panic(err)
	}
	return e
}

// Preload starts loading the encoding in a new goroutine and returns at
// once, so that the first [Count] does not wait for it. The goroutine exits
// as soon as the encoding is loaded; calling Preload again, or after the
// encoding is loaded, costs one short-lived goroutine and nothing else.
func Preload() {
	// An error, impossible unless the binary is corrupt, is reported by
	// the next CL100kBase call.
	go cl100k()
}

// Count returns the number of cl100k_base tokens in b.
func Count(b []byte) int { return CL100kBase().Count(b) }

// CountString returns the number of cl100k_base tokens in s.
func CountString(s string) int { return CL100kBase().CountString(s) }

// Encode returns the cl100k_base token ids of b.
func Encode(b []byte) []int { return CL100kBase().Encode(b) }

// Count returns the number of tokens in b. It does not allocate unless b is
// invalid UTF-8 or holds a very long piece (a run of thousands of spaces or
// letters with no break).
func (e *Encoding) Count(b []byte) int {
	if !utf8.Valid(b) {
		b = sanitize(b)
	}
	_, n := encode(e, b, nil, true)
	return n
}

// CountString returns the number of tokens in s, like [Encoding.Count].
func (e *Encoding) CountString(s string) int {
	if !utf8.ValidString(s) {
		_, n := encode(e, sanitize([]byte(s)), nil, true)
		return n
	}
	_, n := encode(e, s, nil, true)
	return n
}

// Encode returns the token ids of b.
func (e *Encoding) Encode(b []byte) []int {
	return e.AppendEncode(make([]int, 0, len(b)/3+1), b)
}

// AppendEncode appends the token ids of b to dst and returns the extended
// slice.
func (e *Encoding) AppendEncode(dst []int, b []byte) []int {
	if !utf8.Valid(b) {
		b = sanitize(b)
	}
	dst, _ = encode(e, b, dst, false)
	return dst
}

// Decode returns the bytes of tokens. Ids outside the vocabulary are
// skipped.
func (e *Encoding) Decode(tokens []int) []byte {
	var out []byte
	for _, t := range tokens {
		if t >= 0 && t < len(e.offs)-1 {
			out = append(out, e.arena[e.offs[t]:e.offs[t+1]]...)
		}
	}
	return out
}

// Len returns the number of tokens in the vocabulary (special tokens
// excluded).
func (e *Encoding) Len() int { return len(e.offs) - 1 }

// sanitize returns b with every byte of every invalid UTF-8 sequence
// replaced by U+FFFD, which is what tiktoken-go's []rune conversion does.
func sanitize(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/2)
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[i:i+n]...)
		}
		i += n
	}
	return out
}

// parse builds an Encoding from a .tiktoken file: one "base64 rank" pair
// a line, ranks 0, 1, 2, ... in order.
func parse(data []byte) (*Encoding, error) {
	e := &Encoding{
		arena: make([]byte, 0, len(data)/2),
		offs:  make([]uint32, 1, 100257),
	}
	for line := 0; len(data) > 0; line++ {
		nl := indexByte(data, '\n')
		if nl < 0 {
			nl = len(data)
		}
		rec := data[:nl]
		data = data[min(nl+1, len(data)):]
		if len(rec) == 0 {
			line--
			continue
		}
		sp := indexByte(rec, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("bpe: line %d: no rank", line+1)
		}
		rank := 0
		for _, c := range rec[sp+1:] {
			if c < '0' || c > '9' {
				return nil, fmt.Errorf("bpe: line %d: bad rank", line+1)
			}
			rank = rank*10 + int(c-'0')
		}
		if rank != line {
			return nil, fmt.Errorf("bpe: line %d: rank %d out of order", line+1, rank)
		}
		start := len(e.arena)
		e.arena = append(e.arena, make([]byte, base64.StdEncoding.DecodedLen(sp))...)
		n, err := base64.StdEncoding.Decode(e.arena[start:], rec[:sp])
		if err != nil {
			return nil, fmt.Errorf("bpe: line %d: %w", line+1, err)
		}
		if n == 0 {
			return nil, fmt.Errorf("bpe: line %d: empty token", line+1)
		}
		e.arena = e.arena[:start+n]
		e.offs = append(e.offs, uint32(len(e.arena)))
	}
	ntok := len(e.offs) - 1
	if ntok < 256 {
		return nil, errors.New("bpe: vocabulary too small")
	}
	if ntok > 1<<rankBits || len(e.arena) > 1<<offBits {
		return nil, errors.New("bpe: vocabulary too large")
	}

	size := 1
	for size < ntok*2+ntok/2 {
		size <<= 1
	}
	e.table = make([]uint64, size)
	e.filter = new([1 << filterBits / 64]uint64)
	e.mask = uint64(size - 1)
	for i := range e.byteRank {
		e.byteRank[i] = noRank
	}
	e.pairRank = make([]uint32, 1<<16)
	for i := range e.pairRank {
		e.pairRank[i] = noRank
	}
	for r := range ntok {
		tok := e.arena[e.offs[r]:e.offs[r+1]]
		if _, dup := lookup(e, tok); dup {
			return nil, fmt.Errorf("bpe: token %d is a duplicate", r)
		}
		h := hash(tok)
		i := h & e.mask
		for e.table[i] != 0 {
			i = (i + 1) & e.mask
		}
		e.table[i] = entry(h, e.offs[r], len(tok), r)
		f := filterBit(h)
		e.filter[f/64] |= 1 << (f % 64)
		if len(tok) >= 1<<lenBits {
			return nil, fmt.Errorf("bpe: token %d is too long", r)
		}
		e.maxLen = max(e.maxLen, len(tok))
		switch len(tok) {
		case 1:
			e.byteRank[tok[0]] = uint32(r)
		case 2:
			e.pairRank[int(tok[0])<<8|int(tok[1])] = uint32(r)
		}
	}
	for i, r := range e.byteRank {
		if r == noRank {
			return nil, fmt.Errorf("bpe: byte %#x is not a token", i)
		}
	}
	e.class = classTable()
	return e, nil
}

// A table entry packs, from the top: the high bits of the token's hash,
// its offset in the arena, its length and its rank. The length is never
// zero, so neither is an entry.
const (
	rankBits = 17
	lenBits  = 8
	offBits  = 20
	tagShift = rankBits + lenBits + offBits
)

// filterBits is the size of the negative filter in front of the table: a
// lookup whose bit is clear misses without touching the table. At 2^20 bits
// (128 KiB, which stays in cache) about one string in ten that is not a
// token gets past it.
const filterBits = 20

func filterBit(h uint64) uint64 { return h >> 20 & (1<<filterBits - 1) }

func entry(h uint64, off uint32, n, rank int) uint64 {
	return h>>tagShift<<tagShift | uint64(off)<<(rankBits+lenBits) | uint64(n)<<rankBits | uint64(rank)
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// classTable returns the character class of every rune below 0x10000,
// filled from the Unicode tables that tiktoken-go's regexp engine uses.
func classTable() *[1 << 16]uint8 {
	t := new([1 << 16]uint8) // clsOther is 0
	fill := func(rt *unicode.RangeTable, c uint8) {
		for _, r := range rt.R16 {
			for x := int(r.Lo); x <= int(r.Hi); x += int(r.Stride) {
				t[x] = c
			}
		}
		for _, r := range rt.R32 {
			for x := int(r.Lo); x <= int(r.Hi) && x < len(t); x += int(r.Stride) {
				t[x] = c
			}
		}
	}
	fill(unicode.L, clsLetter)
	fill(unicode.N, clsNumber)
	fill(unicode.White_Space, clsSpace) // unicode.IsSpace is White_Space membership
	t['\r'], t['\n'] = clsNewline, clsNewline
	return t
}

// classOf returns the class of a rune at or above 0x10000.
func classOf(r rune) uint8 {
	switch {
	case unicode.IsLetter(r):
		return clsLetter
	case unicode.IsNumber(r):
		return clsNumber
	case unicode.IsSpace(r):
		return clsSpace
	}
	return clsOther
}
