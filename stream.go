package ccr

import (
	"bufio"
	"bytes"
	"errors"
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
// MaxLineBytes is an error wrapping [ErrLineTooLong], never a silent
// truncation. An SSEReader is not safe for concurrent use.
type SSEReader struct {
	// MaxLineBytes bounds one line; 0 means DefaultMaxLineBytes.
	MaxLineBytes int
	// DispatchAtEOF makes the reader dispatch an event whose final blank
	// line is missing at end of input, as upstreams that omit it expect.
	DispatchAtEOF bool

	r       *bufio.Reader
	line    []byte
	skipLF  bool // the previous line ended in '\r': a following '\n' belongs to it
	err     error
	data    []byte
	hasData bool
	typ     string
	id      string
}

// NewSSEReader returns an SSEReader reading from r.
func NewSSEReader(r io.Reader) *SSEReader {
	return &SSEReader{r: bufio.NewReaderSize(r, 32<<10)}
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
	}
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
		s.typ = string(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			s.id = string(value)
		}
	}
}

// readLine returns the next line without its terminator. The returned slice
// is valid until the next call.
func (s *SSEReader) readLine() ([]byte, error) {
	max := s.MaxLineBytes
	if max <= 0 {
		max = DefaultMaxLineBytes
	}
	s.line = s.line[:0]
	for {
		chunk, err := s.r.ReadSlice('\n')
		if s.skipLF && len(chunk) > 0 {
			s.skipLF = false
			if chunk[0] == '\n' && len(s.line) == 0 {
				chunk = chunk[1:]
				if len(chunk) == 0 && err == nil {
					continue
				}
			}
		}
		// A lone '\r' also ends a line.
		if i := bytes.IndexByte(chunk, '\r'); i >= 0 && (i+1 == len(chunk) || chunk[i+1] != '\n') {
			s.line = append(s.line, chunk[:i]...)
			rest := len(chunk) - (i + 1)
			// Give back what follows the '\r'.
			if rest > 0 {
				if uerr := s.unread(chunk[i+1:]); uerr != nil {
					return nil, uerr
				}
			} else {
				s.skipLF = true
			}
			return s.checkLen(max)
		}
		switch {
		case err == nil:
			s.line = append(s.line, chunk...)
			s.line = bytes.TrimSuffix(s.line, []byte{'\n'})
			s.line = bytes.TrimSuffix(s.line, []byte{'\r'})
			return s.checkLen(max)
		case errors.Is(err, bufio.ErrBufferFull):
			s.line = append(s.line, chunk...)
			if len(s.line) > max {
				return nil, ErrLineTooLong
			}
		case err == io.EOF:
			if len(chunk) == 0 && len(s.line) == 0 {
				return nil, io.EOF
			}
			// A final line without a terminator is not a complete line:
			// per WHATWG it belongs to an event that is never dispatched,
			// unless DispatchAtEOF asks for leniency.
			s.line = append(s.line, chunk...)
			if s.DispatchAtEOF && len(s.line) > 0 {
				s.field(s.line)
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

func (s *SSEReader) checkLen(max int) ([]byte, error) {
	if len(s.line) > max {
		return nil, ErrLineTooLong
	}
	return s.line, nil
}

// unread pushes p back in front of the buffered input.
func (s *SSEReader) unread(p []byte) error {
	rest := append([]byte(nil), p...)
	s.r = bufio.NewReaderSize(io.MultiReader(bytes.NewReader(rest), s.r), 32<<10)
	return nil
}

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
	buf     []byte
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

func (sw *SSEWriter) writeLocked(ev Event) error {
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
	sw.buf = AppendEvent(sw.buf[:0], ev)
	if _, err := sw.w.Write(sw.buf); err != nil {
		return err
	}
	return sw.rc.Flush()
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
