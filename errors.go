package ccr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// Error is the router's error type. Every error the router returns to a
// client is an *Error, rendered as Anthropic's error JSON:
//
//	{"type":"error","error":{"type":"rate_limit_error","message":"..."},"request_id":"req_..."}
//
// Message is shown to the client and must hold no secret and no raw upstream
// body that could carry one; Err is the cause, logged and visible to
// [errors.Is] and [errors.As], never sent.
type Error struct {
	Status    int         // HTTP status for the client; 0 means 500
	Type      string      // Anthropic error type; "" means the type for Status
	Message   string      // shown to the client
	RequestID string      // echoed as request_id when known
	Header    http.Header // extra response headers, such as Retry-After; may be nil
	Err       error       // cause: logged, never sent
}

// Sentinel errors. They are wrapped, so match them with [errors.Is].
var (
	// ErrTruncated reports an upstream stream that ended without its
	// terminal event ([DONE], message_stop, or a finish reason).
	ErrTruncated = errors.New("ccr: stream truncated")
	// ErrStreamIdle reports an upstream stream silent for longer than the
	// idle timeout.
	ErrStreamIdle = errors.New("ccr: upstream stream idle")
	// ErrFirstByteTimeout reports an upstream that sent no response headers
	// within the first-byte timeout.
	ErrFirstByteTimeout = errors.New("ccr: upstream first byte timeout")
	// ErrNoRoute reports a request for which no route is configured.
	ErrNoRoute = errors.New("ccr: no route for model")
	// ErrLineTooLong reports an SSE line longer than the reader's limit.
	ErrLineTooLong = errors.New("ccr: sse line too long")
	// ErrBodyTooLarge reports an upstream body over its size limit.
	ErrBodyTooLarge = errors.New("ccr: upstream body too large")
)

// Error implements the error interface.
func (e *Error) Error() string {
	s := "ccr: " + e.typ() + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

func (e *Error) status() int {
	if e.Status == 0 {
		return http.StatusInternalServerError
	}
	return e.Status
}

func (e *Error) typ() string {
	if e.Type != "" {
		return e.Type
	}
	return ErrorType(e.status())
}

// ErrorType returns the Anthropic error type for an HTTP status.
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	case 529, http.StatusServiceUnavailable:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

// isErrorType reports whether t is one of Anthropic's documented error
// types, the only ones clients are sent.
func isErrorType(t string) bool {
	switch t {
	case "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
		"request_too_large", "rate_limit_error", "api_error", "timeout_error", "overloaded_error":
		return true
	}
	return false
}

// errorBody is the wire form of an Error.
type errorBody struct {
	Type      string       `json:"type"`
	Error     errorPayload `json:"error"`
	RequestID string       `json:"request_id,omitempty"`
}

type errorPayload struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// Body returns the error's JSON rendering.
func (e *Error) Body() []byte {
	b, err := marshalNoEscape(errorBody{
		Type:      "error",
		Error:     errorPayload{Type: e.typ(), Message: e.Message},
		RequestID: e.RequestID,
	})
	if err != nil { // cannot happen: strings only
		return []byte(`{"type":"error","error":{"type":"api_error","message":"internal error"}}`)
	}
	return b
}

// Errorf returns an *Error with the given status and a formatted message.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Message: fmt.Sprintf(format, args...)}
}

// asError converts any error into an *Error the client may see. Unknown
// errors become 500 "internal error", their cause kept for the log.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: "request body exceeds " + strconv.FormatInt(mbe.Limit, 10) + " bytes", Err: err}
	case errors.Is(err, ErrStreamIdle):
		return &Error{Status: http.StatusGatewayTimeout, Type: "timeout_error", Message: "upstream stream idle for too long", Err: err}
	case errors.Is(err, ErrFirstByteTimeout), errors.Is(err, context.DeadlineExceeded):
		return &Error{Status: http.StatusGatewayTimeout, Type: "timeout_error", Message: "upstream did not answer in time", Err: err}
	case errors.Is(err, ErrTruncated):
		return &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream stream ended before completion", Err: err}
	case errors.Is(err, ErrLineTooLong):
		return &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream sent an event line over the size limit", Err: err}
	case errors.Is(err, ErrBodyTooLarge):
		return &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream response over the size limit", Err: err}
	}
	return &Error{Status: http.StatusInternalServerError, Type: "api_error", Message: "internal error", Err: err}
}

// writeJSONError writes e as a complete JSON response. It is the only place
// that writes an error status line.
func writeJSONError(w http.ResponseWriter, e *Error) {
	h := w.Header()
	for k, vs := range e.Header {
		h[k] = append([]string(nil), vs...)
	}
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(e.status())
	w.Write(e.Body())
}

// marshalNoEscape encodes v as compact JSON without HTML escaping, so that
// '<', '>' and '&' in prompts and tool arguments survive unchanged.
func marshalNoEscape(v any) ([]byte, error) {
	var buf jsonBuffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.b
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return b, nil
}

type jsonBuffer struct{ b []byte }

func (j *jsonBuffer) Write(p []byte) (int, error) {
	j.b = append(j.b, p...)
	return len(p), nil
}
