package ccr

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// Event is one server-sent event.
type Event struct {
	Type string // the "event:" field; "" means "message"
	Data []byte // the "data:" lines joined with '\n'; owned by the caller once returned
	ID   string // the "id:" field, if present
}

// EventReader is the interface that wraps ReadEvent.
//
// ReadEvent returns the next event. It returns [io.EOF] only when the stream
// ended cleanly (for a protocol with a terminal event, only after that
// event). A stream cut short returns an error wrapping [ErrTruncated]. Once
// ReadEvent returns a non-nil error, later calls return an error too.
// Implementations must not start goroutines and must not reuse Event.Data
// after returning it.
type EventReader interface {
	ReadEvent() (Event, error)
}

// EventReaderFunc is an adapter to allow the use of ordinary functions as
// EventReaders.
type EventReaderFunc func() (Event, error)

// ReadEvent calls f().
func (f EventReaderFunc) ReadEvent() (Event, error) { return f() }

// DefaultMaxLineBytes is the longest SSE line an [SSEReader] accepts by
// default: 32 MiB, enough for the largest tool-call arguments seen in the
// wild and the limit the official Anthropic SDK uses.
const DefaultMaxLineBytes = 32 << 20

// SSEReader parses a byte stream into server-sent events, following the
// WHATWG event-stream interpretation rules: lines end in "\n", "\r\n" or
// "\r"; a line starting with ':' is a comment; one space after the colon is
// removed; several data lines are joined with '\n'; an event with no data
// is not dispatched; at end of input an event not yet ended by a blank
// line is discarded unless DispatchAtEOF is set.
//
// SSEReader reports only byte-level end of input as [io.EOF]; whether the
// stream was complete is for the format's converter to decide. A line over
// MaxLineBytes, or an event whose data grows over it, is an error wrapping
// [ErrLineTooLong], never a silent truncation. An SSEReader is not safe for
// concurrent use.
type SSEReader struct {
	// MaxLineBytes bounds one line, and the data of one event; 0 means
	// DefaultMaxLineBytes.
	MaxLineBytes int
	// DispatchAtEOF makes the reader dispatch an event whose final blank
	// line is missing at end of input, as upstreams that omit it expect.
	DispatchAtEOF bool

	src   io.Reader
	buf   []byte // the input read and not yet consumed is buf[pos:end]
	pos   int
	end   int
	rerr  error     // the error of the last read, once its bytes are consumed
	full  bool      // the last read filled buf: more input is probably waiting
	small [512]byte // the buffer while the stream is quiet
	slab  *[]byte   // a slabSize buffer held while input comes in bursts
	slabs *slabPool // nil: keep the slab once taken

	line    []byte // a line that spans reads
	skipLF  bool   // the previous line ended in '\r': a following '\n' belongs to it
	begun   bool   // the first bytes were checked for a BOM
	err     error
	data    []byte
	hasData bool
	typ     string
	id      string
}

// slabSize is the size of an SSEReader's read buffer while input comes in
// bursts.
const slabSize = 2 << 10

// slabPool holds the burst buffers of SSEReaders between bursts. Its zero
// value is ready to use.
type slabPool struct{ p sync.Pool }

func (sp *slabPool) get() *[]byte {
	if b, ok := sp.p.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, slabSize)
	return &b
}

func (sp *slabPool) put(b *[]byte) { sp.p.Put(b) }

// NewSSEReader returns an SSEReader reading from r.
func NewSSEReader(r io.Reader) *SSEReader {
	s := &SSEReader{src: r}
	s.buf = s.small[:0]
	return s
}

// newPooledSSEReader returns an SSEReader that borrows its burst buffer
// from slabs and gives it back before it waits on a quiet stream: a
// thousand open streams, quiet most of the time, then hold a small buffer
// each rather than a slab.
func newPooledSSEReader(r io.Reader, slabs *slabPool) *SSEReader {
	s := NewSSEReader(r)
	s.slabs = slabs
	return s
}

// ReadEvent returns the next event. See [EventReader].
func (s *SSEReader) ReadEvent() (Event, error) {
	if s.err != nil {
		return Event{}, s.err
	}
	for {
		line, err := s.readLine()
		if err != nil {
			if err == io.EOF && s.DispatchAtEOF && s.hasData {
				if len(s.data) > s.maxLine() {
					s.data, s.hasData = nil, false
					s.err = fmt.Errorf("ccr: sse event data over %d bytes: %w", s.maxLine(), ErrLineTooLong)
					return Event{}, s.err
				}
				ev := s.dispatch()
				s.err = io.EOF
				return ev, nil
			}
			s.err = err
			return Event{}, err
		}
		if len(line) == 0 {
			if !s.hasData {
				s.typ = ""
				continue
			}
			return s.dispatch(), nil
		}
		s.field(line)
		if len(s.data) > s.maxLine() {
			// Many short data lines must not build an unbounded event.
			s.data, s.hasData = nil, false
			s.err = fmt.Errorf("ccr: sse event data over %d bytes: %w", s.maxLine(), ErrLineTooLong)
			return Event{}, s.err
		}
	}
}

func (s *SSEReader) maxLine() int {
	if s.MaxLineBytes <= 0 {
		return DefaultMaxLineBytes
	}
	return s.MaxLineBytes
}

func (s *SSEReader) dispatch() Event {
	ev := Event{Type: s.typ, Data: s.data, ID: s.id}
	s.data, s.hasData, s.typ = nil, false, ""
	return ev
}

func (s *SSEReader) field(line []byte) {
	if line[0] == ':' {
		return
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "data":
		if s.hasData {
			s.data = append(s.data, '\n')
		}
		s.data = append(s.data, value...)
		s.hasData = true
	case "event":
		s.typ = eventType(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			s.id = string(value)
		}
	}
}

// readLine returns the next line without its terminator. The returned slice
// is valid until the next call. Lines end in "\n", "\r\n" or a lone "\r";
// the input is scanned in place, and a line that ends in the bytes of one
// read is returned without a copy.
func (s *SSEReader) readLine() ([]byte, error) {
	max := s.maxLine()
	s.line = s.line[:0]
	for {
		if s.pos == s.end {
			if err := s.fill(); err != nil {
				if err != io.EOF {
					return nil, err
				}
				if len(s.line) == 0 {
					return nil, io.EOF
				}
				// A final line without a terminator is not a complete line:
				// per WHATWG it belongs to an event that is never dispatched,
				// unless DispatchAtEOF asks for leniency.
				if s.DispatchAtEOF {
					s.field(s.line)
				}
				return nil, io.EOF
			}
		}
		if !s.begun {
			s.begun = true
			// The stream may start with a UTF-8 BOM, which is not part of
			// the first field name.
			for s.end-s.pos < len(bom) && bytes.HasPrefix(bom, s.buf[s.pos:s.end]) && s.fill() == nil {
			}
			if bytes.HasPrefix(s.buf[s.pos:s.end], bom) {
				s.pos += len(bom)
				continue
			}
		}
		buf := s.buf[s.pos:s.end]
		if s.skipLF {
			s.skipLF = false
			if buf[0] == '\n' {
				s.pos++
				continue
			}
		}
		i := bytes.IndexByte(buf, '\n')
		lim := i
		if lim < 0 {
			lim = len(buf)
		}
		if j := bytes.IndexByte(buf[:lim], '\r'); j >= 0 {
			i = j
		}
		if i < 0 {
			if len(s.line)+len(buf) > max {
				return nil, ErrLineTooLong
			}
			s.line = append(s.line, buf...)
			s.pos = s.end
			continue
		}
		if len(s.line)+i > max {
			return nil, ErrLineTooLong
		}
		s.skipLF = buf[i] == '\r' // a following '\n' belongs to this line
		s.pos += i + 1
		if len(s.line) == 0 {
			return buf[:i], nil
		}
		line := append(s.line, buf[:i]...)
		s.line = line
		if cap(line) > slabSize {
			s.line = nil // a long line is not kept for the rest of the stream
		}
		return line, nil
	}
}

// fill reads more input after what is pending (which is nothing, except
// while a BOM is checked). It returns an error only once no input is
// left; the error that came with the last bytes waits until then.
//
// Into what it reads depends on the stream's pace. Waiting on a quiet
// stream, the reader holds its small buffer only; after a read that filled
// its buffer, more input is probably waiting, and it reads into a slab,
// which it gives back (to slabs, if set) before a read that may wait.
func (s *SSEReader) fill() error {
	if s.rerr != nil {
		return s.rerr
	}
	if s.pos == s.end {
		s.pos, s.end = 0, 0
		switch {
		case s.full && s.slab == nil:
			if s.slabs != nil {
				s.slab = s.slabs.get()
			} else {
				b := make([]byte, slabSize)
				s.slab = &b
			}
			s.buf = *s.slab
		case !s.full:
			s.dropSlab()
		}
		s.buf = s.buf[:cap(s.buf)]
	}
	for range 100 {
		n, err := s.src.Read(s.buf[s.end:])
		s.end += n
		s.full = s.end == len(s.buf)
		if err != nil {
			s.rerr = err
		}
		if n > 0 {
			return nil
		}
		if err != nil {
			s.dropSlab()
			return err
		}
	}
	s.rerr = io.ErrNoProgress
	s.dropSlab()
	return s.rerr
}

// dropSlab gives the slab back to the pool, if there is one.
func (s *SSEReader) dropSlab() {
	if s.slab != nil && s.slabs != nil {
		s.slabs.put(s.slab)
		s.slab = nil
		s.buf = s.small[:]
	}
}

var bom = []byte("\xEF\xBB\xBF")

// SSEWriter writes server-sent events to an http.ResponseWriter, flushing
// after every event. It sets Content-Type: text/event-stream and
// Cache-Control: no-cache before the first write. Its methods are safe for
// concurrent use, so a keep-alive timer may write pings while the handler
// writes events.
type SSEWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
	closed  bool
	pending bool // written and not yet flushed
	buf     []byte
	// slabs, if set, lends the buffer events are encoded in for the time
	// of a write, so that an open stream holds none between events.
	slabs *slabPool
}

// NewSSEWriter returns an SSEWriter for w. It returns an error if no writer
// in w's Unwrap chain can flush, before anything has been written, so that a
// clean error response is still possible.
func NewSSEWriter(w http.ResponseWriter) (*SSEWriter, error) {
	if !canFlush(w) {
		return nil, &Error{Status: http.StatusInternalServerError, Message: "streaming unsupported by this server", Err: errors.New("ccr: response writer cannot flush")}
	}
	return &SSEWriter{w: w, rc: http.NewResponseController(w)}, nil
}

func canFlush(w http.ResponseWriter) bool {
	for {
		switch t := w.(type) {
		case http.Flusher:
			return true
		case interface{ FlushError() error }:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return false
		}
	}
}

// Started reports whether anything has been written.
func (sw *SSEWriter) Started() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.started
}

// WriteEvent writes ev and flushes it. A non-nil error means the client is
// gone.
func (sw *SSEWriter) WriteEvent(ev Event) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.writeLocked(ev)
}

// writeDeferred writes ev without flushing it: the caller has more events
// at hand and flushes them together, before it waits for more.
func (sw *SSEWriter) writeDeferred(ev Event) error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.writeNoFlush(ev)
}

// flush flushes what writeDeferred wrote.
func (sw *SSEWriter) flush() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if !sw.pending || sw.closed {
		return nil
	}
	sw.pending = false
	return sw.rc.Flush()
}

func (sw *SSEWriter) writeLocked(ev Event) error {
	if err := sw.writeNoFlush(ev); err != nil {
		return err
	}
	sw.pending = false
	return sw.rc.Flush()
}

func (sw *SSEWriter) writeNoFlush(ev Event) error {
	if sw.closed {
		return errWriterClosed
	}
	if !sw.started {
		h := sw.w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		h.Del("Content-Length")
		sw.w.WriteHeader(http.StatusOK)
		sw.started = true
	}
	if sw.slabs == nil {
		sw.buf = AppendEvent(sw.buf[:0], ev)
		if _, err := sw.w.Write(sw.buf); err != nil {
			return err
		}
		sw.pending = true
		return nil
	}
	slab := sw.slabs.get()
	b := AppendEvent((*slab)[:0], ev) // a larger event leaves the slab as it was
	_, err := sw.w.Write(b)
	sw.slabs.put(slab)
	if err != nil {
		return err
	}
	sw.pending = true
	return nil
}

var errWriterClosed = errors.New("ccr: event writer closed")

// AppendEvent appends the wire form of ev to b and returns the extended
// buffer. Data containing newlines is split into several data lines.
func AppendEvent(b []byte, ev Event) []byte {
	if ev.Type != "" {
		b = append(b, "event: "...)
		b = append(b, ev.Type...)
		b = append(b, '\n')
	}
	if ev.ID != "" {
		b = append(b, "id: "...)
		b = append(b, ev.ID...)
		b = append(b, '\n')
	}
	data := ev.Data
	for {
		i := bytes.IndexAny(data, "\r\n")
		b = append(b, "data: "...)
		if i < 0 {
			b = append(b, data...)
			b = append(b, '\n')
			break
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
	return append(b, '\n')
}

// ping writes a ping event unless the writer is closed; it reports whether
// it wrote.
func (sw *SSEWriter) ping() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed || !sw.started {
		return false
	}
	return sw.writeLocked(Event{Type: "ping", Data: []byte(`{"type":"ping"}`)}) == nil
}

// close makes later writes fail, so that no timer writes after the
// handler has returned.
func (sw *SSEWriter) close() {
	sw.mu.Lock()
	sw.closed = true
	sw.mu.Unlock()
}

// eventType returns value as a string, without allocating for the event
// types of the formats the router speaks.
func eventType(value []byte) string {
	switch string(value) {
	case "message_start":
		return "message_start"
	case "content_block_start":
		return "content_block_start"
	case "content_block_delta":
		return "content_block_delta"
	case "content_block_stop":
		return "content_block_stop"
	case "message_delta":
		return "message_delta"
	case "message_stop":
		return "message_stop"
	case "ping":
		return "ping"
	case "error":
		return "error"
	}
	return string(value)
}
