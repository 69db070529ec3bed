package bpe

import "math"

// text is the input of the generic encoder: a string or a byte slice, read
// only. The encoder assumes valid UTF-8; callers sanitize first.
type text interface{ ~string | ~[]byte }

// encode appends the tokens of s to dst (unless countOnly) and returns dst
// and the number of tokens.
func encode[T text](e *Encoding, s T, dst []int, countOnly bool) ([]int, int) {
	var sc *scratch
	total := 0
	for i := 0; i < len(s); {
		j := nextPiece(e, s, i)
		p := s[i:j]
		if len(p) == 1 {
			if !countOnly {
				dst = append(dst, int(e.byteRank[p[0]]))
			}
			total++
			i = j
			continue
		}
		h := hash(p)
		if len(p) <= e.maxLen {
			if r, ok := lookupHash(e, p, h); ok {
				if !countOnly {
					dst = append(dst, int(r))
				}
				total++
				i = j
				continue
			}
		}
		if sc == nil {
			sc = e.getScratch()
		}
		// Pieces that need merging repeat (identifiers in code, rare words
		// in prose): remember each one's result by where it occurred.
		m := &sc.memo[h&(memoSize-1)]
		if m.gen == sc.gen && m.h == h && int(m.n) == len(p) && same(s[m.start:int(m.start)+len(p)], p) {
			if !countOnly {
				dst = append(dst, dst[m.tok:m.tok+m.count]...)
			}
			total += int(m.count)
			i = j
			continue
		}
		tok := len(dst)
		var k int
		if len(p) <= smallPiece {
			dst, k = mergeSmall(e, p, dst, countOnly)
		} else {
			dst, k = mergeLarge(e, p, dst, countOnly, sc)
		}
		if j <= math.MaxInt32 && len(dst) <= math.MaxInt32 {
			*m = memoSlot{h: h, gen: sc.gen, start: int32(i), n: int32(len(p)), count: int32(k), tok: int32(tok)}
		}
		total += k
		i = j
	}
	if sc != nil {
		if cap(sc.next) > 1<<16 { // do not keep the buffers of a huge piece
			sc.next, sc.prev, sc.rank, sc.heap = nil, nil, nil, nil
		}
		e.pool.Put(sc)
	}
	return dst, total
}

// memoSize is the number of slots of the per-call memo of merged pieces.
const memoSize = 1024

// memoSlot records that the piece s[start:start+n] of the current call
// merged into count tokens, appended at dst[tok:] unless counting only.
type memoSlot struct {
	h                    uint64
	gen                  uint32 // the call that wrote the slot
	start, n, count, tok int32
}

// scratch holds the working memory of one call: the memo and the buffers
// of mergeLarge. It is pooled, and a new generation number invalidates the
// memo left by the previous call.
type scratch struct {
	memo       [memoSize]memoSlot
	gen        uint32
	next, prev []int32
	rank       []uint32
	heap       []uint64 // rank<<32 | start, a min-heap
}

func (e *Encoding) getScratch() *scratch {
	sc, _ := e.pool.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	sc.gen++
	if sc.gen == 0 {
		sc.memo = [memoSize]memoSlot{}
		sc.gen = 1
	}
	return sc
}

// same reports whether a and b, of the same length, are equal.
func same[T text](a, b T) bool {
	for i := range len(a) {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// classAt returns the class and the byte length of the rune at s[i].
func classAt[T text](e *Encoding, s T, i int) (uint8, int) {
	c := s[i]
	switch {
	case c < 0x80:
		return e.class[c], 1
	case c < 0xE0:
		return e.class[uint16(c&0x1F)<<6|uint16(s[i+1]&0x3F)], 2
	case c < 0xF0:
		return e.class[uint16(c&0x0F)<<12|uint16(s[i+1]&0x3F)<<6|uint16(s[i+2]&0x3F)], 3
	}
	r := rune(c&0x07)<<18 | rune(s[i+1]&0x3F)<<12 | rune(s[i+2]&0x3F)<<6 | rune(s[i+3]&0x3F)
	return classOf(r), 4
}

// nextPiece returns the end of the pre-tokeniser piece that starts at s[i],
// i < len(s). The cases follow the alternatives of cl100k's pattern in
// order; the first one that matches wins, as in a backtracking engine:
//
//  1. (?i:'s|'t|'re|'ve|'m|'ll|'d)
//  2. [^\r\n\p{L}\p{N}]?\p{L}+
//  3. \p{N}{1,3}
//  4. " ?[^\s\p{L}\p{N}]+[\r\n]*"
//  5. \s*[\r\n]+
//  6. \s+(?!\S)
//  7. \s+
func nextPiece[T text](e *Encoding, s T, i int) int {
	cls, sz := e.class[s[i]], 1
	if s[i] >= 0x80 {
		cls, sz = classAt(e, s, i)
	}
	switch cls {
	case clsLetter: // 2, without the optional prefix
		return scanLetters(e, s, i+sz)
	case clsNumber: // 3
		j := i + sz
		for k := 1; k < 3 && j < len(s); k++ {
			c, n := e.class[s[j]], 1
			if s[j] >= 0x80 {
				c, n = classAt(e, s, j)
			}
			if c != clsNumber {
				break
			}
			j += n
		}
		return j
	case clsOther:
		if s[i] == '\'' { // 1
			if k := contraction(s, i+1); k > 0 {
				return i + 1 + k
			}
		}
		if j := i + sz; j < len(s) { // 2, with the prefix
			if c := classNext(e, s, j); c == clsLetter {
				return scanLetters(e, s, j)
			}
		}
		return scanOther(e, s, i+sz) // 4, without the space
	case clsSpace:
		if j := i + sz; j < len(s) {
			c := classNext(e, s, j)
			if c == clsLetter { // 2, with the prefix
				return scanLetters(e, s, j)
			}
			if c == clsOther && s[i] == ' ' { // 4, with the space
				return scanOther(e, s, j)
			}
		}
	}
	return scanSpace(e, s, i) // 5, 6, 7
}

// classNext returns the class of the rune at s[j].
func classNext[T text](e *Encoding, s T, j int) uint8 {
	if s[j] < 0x80 {
		return e.class[s[j]]
	}
	c, _ := classAt(e, s, j)
	return c
}

// contraction returns the length of the contraction suffix ("s", "ll", ...)
// at s[j:], after an apostrophe, or 0. No rune outside ASCII lower-cases to
// one of these letters, so ASCII case folding is exact.
func contraction[T text](s T, j int) int {
	if j >= len(s) {
		return 0
	}
	switch s[j] | 0x20 {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if j+1 < len(s) && s[j+1]|0x20 == 'e' {
			return 2
		}
	case 'l':
		if j+1 < len(s) && s[j+1]|0x20 == 'l' {
			return 2
		}
	}
	return 0
}

// scanLetters returns the end of the run of letters at s[j:].
func scanLetters[T text](e *Encoding, s T, j int) int {
	for j < len(s) {
		if c := s[j]; c < 0x80 {
			if e.class[c] != clsLetter {
				return j
			}
			j++
			continue
		}
		c, n := classAt(e, s, j)
		if c != clsLetter {
			return j
		}
		j += n
	}
	return j
}

// scanOther returns the end of [^\s\p{L}\p{N}]*[\r\n]* at s[j:].
func scanOther[T text](e *Encoding, s T, j int) int {
	for j < len(s) {
		if c := s[j]; c < 0x80 {
			if e.class[c] != clsOther {
				break
			}
			j++
			continue
		}
		c, n := classAt(e, s, j)
		if c != clsOther {
			break
		}
		j += n
	}
	for j < len(s) && (s[j] == '\r' || s[j] == '\n') {
		j++
	}
	return j
}

// scanSpace matches alternatives 5 to 7 at s[i], which is whitespace. Let W
// be the run of whitespace at s[i:]. \s*[\r\n]+ backtracks to the last
// newline in W; failing that, \s+(?!\S) gives back the last rune of W when
// W is followed by a non-space and longer than one rune; failing that, \s+
// takes W.
func scanSpace[T text](e *Encoding, s T, i int) int {
	j, last, nl := i, i, -1
	for j < len(s) {
		c, n := e.class[s[j]], 1
		if s[j] >= 0x80 {
			c, n = classAt(e, s, j)
		}
		if c == clsNewline {
			nl = j
		} else if c != clsSpace {
			break
		}
		last = j
		j += n
	}
	switch {
	case nl >= 0:
		return nl + 1
	case j == len(s) || last == i:
		return j
	}
	return last
}

// hash returns a hash of s. The vocabulary table is fixed, so the worst
// case of any lookup is bounded by its longest probe sequence whatever the
// input.
func hash[T text](s T) uint64 {
	const (
		k0 = 0x9E3779B97F4A7C15
		k1 = 0xBF58476D1CE4E5B9
	)
	n := len(s)
	h := uint64(n) * k0
	var w uint64
	switch {
	case n >= 8:
		i := 0
		for ; i+8 < n; i += 8 {
			h = (h ^ load64(s, i)) * k1
			h ^= h >> 31
		}
		w = load64(s, n-8)
	case n >= 4:
		w = load32(s, 0) | load32(s, n-4)<<32
	case n > 0:
		w = uint64(s[0]) | uint64(s[n>>1])<<8 | uint64(s[n-1])<<16
	}
	h = (h ^ w) * k1
	h ^= h >> 32
	h *= k0
	h ^= h >> 29
	return h
}

func load64[T text](s T, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

func load32[T text](s T, i int) uint64 {
	_ = s[i+3]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24
}

// lookup returns the rank of the token s.
func lookup[T text](e *Encoding, s T) (uint32, bool) {
	return lookupHash(e, s, hash(s))
}

// lookupHash returns the rank of the token s, whose hash is h.
func lookupHash[T text](e *Encoding, s T, h uint64) (uint32, bool) {
	if f := filterBit(h); e.filter[f/64]&(1<<(f%64)) == 0 {
		return noRank, false
	}
	key := h>>tagShift<<tagShift | uint64(len(s))<<rankBits
	const keyMask = (1<<(64-tagShift)-1)<<tagShift | (1<<lenBits-1)<<rankBits
	for i := h & e.mask; ; i = (i + 1) & e.mask {
		v := e.table[i]
		if v == 0 {
			return noRank, false
		}
		if v&keyMask == key {
			off := int(v>>(rankBits+lenBits)) & (1<<offBits - 1)
			if equal(e.arena[off:off+len(s)], s) {
				return uint32(v & (1<<rankBits - 1)), true
			}
		}
	}
}

// equal reports whether a and s, of the same length, are equal.
func equal[T text](a []byte, s T) bool {
	n := len(s)
	if n != len(a) {
		return false
	}
	switch {
	case n >= 8:
		for i := 0; i+8 < n; i += 8 {
			if load64(a, i) != load64(s, i) {
				return false
			}
		}
		return load64(a, n-8) == load64(s, n-8)
	case n >= 4:
		return load32(a, 0) == load32(s, 0) && load32(a, n-4) == load32(s, n-4)
	}
	for i := range n {
		if a[i] != s[i] {
			return false
		}
	}
	return true
}

// rankOf returns the rank of the token s, or noRank.
func rankOf[T text](e *Encoding, s T) uint32 {
	switch len(s) {
	case 1:
		return e.byteRank[s[0]]
	case 2:
		return e.pairRank[uint16(s[0])<<8|uint16(s[1])]
	}
	if len(s) > e.maxLen {
		return noRank
	}
	r, _ := lookup(e, s)
	return r
}

// smallPiece is the longest piece merged by the quadratic scan; longer
// pieces use the heap.
const smallPiece = 48

type part struct {
	start int32
	rank  uint32 // rank of the bytes from start to the start of the part after next
}

// mergeSmall is tiktoken's merge: repeatedly merge the adjacent pair with
// the lowest rank, the leftmost of equals, until no pair is a token.
func mergeSmall[T text](e *Encoding, p T, dst []int, countOnly bool) ([]int, int) {
	var buf [smallPiece + 1]part
	n := len(p)
	parts := buf[:n+1]
	for i := 0; i+1 < n; i++ {
		parts[i] = part{int32(i), e.pairRank[uint16(p[i])<<8|uint16(p[i+1])]}
	}
	parts[n-1] = part{int32(n - 1), noRank}
	parts[n] = part{int32(n), noRank}

	pairAt := func(parts []part, i int) uint32 { // rank of parts i and i+1 merged
		if i+2 < len(parts) {
			return rankOf(e, p[parts[i].start:parts[i+2].start])
		}
		return noRank
	}
	for len(parts) > 1 {
		best, at := noRank, -1
		for i, pt := range parts[:len(parts)-1] {
			if pt.rank < best {
				best, at = pt.rank, i
			}
		}
		if at < 0 {
			break
		}
		copy(parts[at+1:], parts[at+2:])
		parts = parts[:len(parts)-1]
		parts[at].rank = pairAt(parts, at)
		if at > 0 {
			parts[at-1].rank = pairAt(parts, at-1)
		}
	}
	if !countOnly {
		for i := 0; i+1 < len(parts); i++ {
			dst = append(dst, int(rankOf(e, p[parts[i].start:parts[i+1].start])))
		}
	}
	return dst, len(parts) - 1
}

// mergeLarge gives the same result as mergeSmall in O(n log n): parts are a
// linked list indexed by their start, and candidate pairs sit in a heap
// ordered by (rank, start), so the minimum is the lowest rank, leftmost.
// Entries made stale by a merge are skipped when popped: a part's pair only
// grows, so its rank never returns to an earlier value.
func mergeLarge[T text](e *Encoding, p T, dst []int, countOnly bool, sc *scratch) ([]int, int) {
	n := len(p)
	next := grow(sc.next, n+1)
	prev := grow(sc.prev, n+1)
	rank := grow(sc.rank, n+1)
	h := sc.heap[:0]
	for i := 0; i <= n; i++ {
		next[i] = int32(i + 1)
		prev[i] = int32(i - 1)
		rank[i] = noRank
	}
	for i := 0; i+1 < n; i++ {
		r := e.pairRank[uint16(p[i])<<8|uint16(p[i+1])]
		rank[i] = r
		if r != noRank {
			h = append(h, uint64(r)<<32|uint64(i))
		}
	}
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
	for len(h) > 0 {
		top := h[0]
		last := len(h) - 1
		h[0] = h[last]
		h = h[:last]
		siftDown(h, 0)

		i := int32(top)
		if rank[i] != uint32(top>>32) {
			continue // stale
		}
		j := next[i] // merged into i
		k := next[j]
		next[i] = k
		prev[k] = i
		rank[j] = noRank
		rank[i] = noRank
		if int(k) < n {
			if r := rankOf(e, p[i:next[k]]); r != noRank {
				rank[i] = r
				h = push(h, uint64(r)<<32|uint64(i))
			}
		}
		if i > 0 {
			g := prev[i]
			r := rankOf(e, p[g:k])
			rank[g] = r
			if r != noRank {
				h = push(h, uint64(r)<<32|uint64(g))
			}
		}
	}
	count := 0
	for i := 0; i < n; i = int(next[i]) {
		if !countOnly {
			dst = append(dst, int(rankOf(e, p[i:next[i]])))
		}
		count++
	}
	sc.next, sc.prev, sc.rank, sc.heap = next, prev, rank, h
	return dst, count
}

func grow[E any](s []E, n int) []E {
	if cap(s) < n {
		return make([]E, n)
	}
	return s[:n]
}

func push(h []uint64, v uint64) []uint64 {
	h = append(h, v)
	i := len(h) - 1
	for i > 0 {
		parent := (i - 1) / 2
		if h[parent] <= v {
			break
		}
		h[i] = h[parent]
		i = parent
	}
	h[i] = v
	return h
}

func siftDown(h []uint64, i int) {
	n := len(h)
	if n == 0 {
		return
	}
	v := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1] < h[c] {
			c++
		}
		if v <= h[c] {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = v
}
