package ccr

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Upstream errors (protocol.md §4.10). The OpenAI Chat Completions,
// OpenAI Responses and Gemini converters read an upstream's error, in an
// error answer, in a 2xx body or in a stream, into an upstreamError, and
// mapUpstreamError alone turns it into the *Error the client sees, so that
// the same failure reads the same whatever the provider's format.

// maxErrorMessage bounds, in bytes, the upstream text an error message
// carries.
const maxErrorMessage = 2 << 10

// truncMarker ends an upstream message cut at maxErrorMessage.
const truncMarker = "..."

// upstreamError is an upstream's account of a failure, in terms common to
// every format.
type upstreamError struct {
	// status is the HTTP status of an error answer, or the numeric code of
	// an error object in a 2xx body or a stream (OpenRouter and Gemini put
	// an HTTP status there); 0 if there is none.
	status int
	// inBody marks an error object found in a 2xx body or a stream, where
	// a missing status is not the upstream's answer but unknown.
	inBody bool
	// message is the upstream's own text: error.message, FastAPI's detail,
	// or the raw body. It is trimmed and cut by mapUpstreamError.
	message string
	// code is a string code: OpenAI's error.code ("context_length_exceeded")
	// or Google's error.status ("RESOURCE_EXHAUSTED").
	code string
	// typ is OpenAI's error.type ("insufficient_quota", "rate_limit_error").
	typ string
	// reason is Google's ErrorInfo reason ("API_KEY_INVALID").
	reason string
	// quotaIDs are Google's QuotaFailure quota ids
	// ("GenerateRequestsPerDayPerProjectPerModel-FreeTier").
	quotaIDs []string
	// retryAfter is a delay in whole seconds given in the body (Google's
	// RetryInfo); a Retry-After header wins over it.
	retryAfter string
}

// mapUpstreamError applies the §4.10 table to an upstream error: header is
// the error answer's (nil for an error inside a body or a stream), and
// provider names the provider in an authentication error. The message is
// the upstream's, at most 2 KiB of it (cut at a character boundary and
// ended with "..."), rewritten to Anthropic's "prompt is too long" wording
// for a context overflow. The *Error has no Err; callers add the cause.
//
// An error without an HTTP status (an error object in a stream with no
// numeric code) takes the row its string code names, such as
// context_length_exceeded or RESOURCE_EXHAUSTED, and is a 502 api_error
// when it names none.
func mapUpstreamError(u upstreamError, header http.Header, provider string) *Error {
	msg := clipMessage(u.message)
	status := u.status
	if status < 400 || status > 599 {
		status = u.impliedStatus()
	}
	if msg == "" {
		switch {
		case u.inBody:
			msg = "upstream reported an error"
		case u.status != 0:
			msg = strings.TrimSpace("upstream returned HTTP " + strconv.Itoa(u.status) + " " + http.StatusText(u.status))
		default:
			msg = "upstream returned an error"
		}
	}
	mk := func(st int, typ, m string) *Error { return &Error{Status: st, Type: typ, Message: m} }
	var e *Error
	switch {
	case u.reason == "API_KEY_INVALID": // Gemini's bad key is a 400 (§3.6)
		e = mk(401, "authentication_error", upstreamAuthMessage(provider, msg))
	case status == 0:
		e = mk(502, "api_error", msg)
	case (status == 400 || status == 422) && u.contextOverflow():
		e = mk(400, "invalid_request_error", promptTooLong(msg))
	case status == 401:
		e = mk(401, "authentication_error", upstreamAuthMessage(provider, msg))
	case status == 402, status == 429 && u.quotaExhausted():
		e = mk(402, "billing_error", msg)
	case status == 403:
		e = mk(403, "permission_error", msg)
	case status == 404:
		e = mk(404, "not_found_error", msg)
	case status == 408:
		e = mk(504, "timeout_error", msg)
	case status == 409:
		e = mk(409, "invalid_request_error", msg)
	case status == 413:
		e = mk(413, "request_too_large", msg)
	case status == 429:
		e = mk(429, "rate_limit_error", msg)
	case status < 500:
		e = mk(400, "invalid_request_error", msg)
	case status == 500:
		e = mk(500, "api_error", msg)
	case status == 503, status == 529:
		e = mk(529, "overloaded_error", msg)
	case status == 504:
		e = mk(504, "timeout_error", msg)
	default: // 502 and every 5xx the table does not list
		e = mk(502, "api_error", msg)
	}
	if e.Status == 429 || e.Status == 529 {
		for _, k := range [...]string{"Retry-After", "Retry-After-Ms"} {
			if v := header.Get(k); v != "" {
				setHeader(e, k, v)
			}
		}
		if e.Header.Get("Retry-After") == "" && u.retryAfter != "" {
			setHeader(e, "Retry-After", u.retryAfter)
		}
	}
	return e
}

func setHeader(e *Error, k, v string) {
	if e.Header == nil {
		e.Header = http.Header{}
	}
	e.Header.Set(k, v)
}

// impliedStatus is the status an error without one is treated as: the
// row of the §4.10 table its code names, or 0 for none.
func (u *upstreamError) impliedStatus() int {
	for _, c := range [...]string{u.code, u.typ} {
		switch c {
		case "context_length_exceeded", "invalid_request_error", "invalid_prompt", "INVALID_ARGUMENT", "FAILED_PRECONDITION":
			return 400
		case "UNAUTHENTICATED":
			return 401
		case "PERMISSION_DENIED":
			return 403
		case "NOT_FOUND":
			return 404
		case "insufficient_quota", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED":
			return 429
		case "server_error", "INTERNAL":
			return 500
		case "overloaded_error", "UNAVAILABLE":
			return 529
		case "vector_store_timeout", "DEADLINE_EXCEEDED":
			return 504
		}
		// The Responses API's image errors: invalid_image_url,
		// image_too_large, empty_image_file and the like.
		if strings.HasPrefix(c, "invalid_image") || strings.HasPrefix(c, "image_") || strings.HasSuffix(c, "_image_file") {
			return 400
		}
	}
	if u.inBody && contextOverflowRE.MatchString(u.message) {
		return 400 // overflow text with no code: Claude Code must still see it
	}
	return 0
}

var (
	contextOverflowRE = regexp.MustCompile(`(?i)maximum context length|context length|context window|too many tokens|input token count .* exceeds|prompt is too long`)
	promptTooLongRE   = regexp.MustCompile(`prompt is too long: \d+ tokens > \d+ maximum`)
	overflowLimitRE   = regexp.MustCompile(`(?i)(?:maximum context length|context length|context window|maximum number of tokens allowed|limit)(?: is| of)?\s*\(?(\d+)`)
	overflowUsedRE    = regexp.MustCompile(`(?i)(?:resulted in|you requested|requested|input token count(?: of| is)?|prompt has|prompt contains)\s*\(?(\d+)`)
)

// contextOverflow reports a request over the model's context window:
// OpenAI's context_length_exceeded, or a message in one of the known
// wordings.
func (u *upstreamError) contextOverflow() bool {
	return u.code == "context_length_exceeded" || contextOverflowRE.MatchString(u.message)
}

// promptTooLong rewrites a context-overflow message into Anthropic's
// wording, which Claude Code's compaction recovery looks for: "prompt is
// too long: N tokens > M maximum" when the message gives the tokens sent
// (N) and the maximum (M), with N > M; otherwise "prompt is too long: "
// followed by the message.
func promptTooLong(msg string) string {
	if m := promptTooLongRE.FindString(msg); m != "" {
		return m
	}
	limit := overflowLimitRE.FindStringSubmatch(msg)
	used := overflowUsedRE.FindStringSubmatch(msg)
	if limit != nil && used != nil {
		m, err1 := strconv.ParseInt(limit[1], 10, 64)
		n, err2 := strconv.ParseInt(used[1], 10, 64)
		if err1 == nil && err2 == nil && n > m {
			return "prompt is too long: " + used[1] + " tokens > " + limit[1] + " maximum"
		}
	}
	if strings.HasPrefix(msg, "prompt is too long") {
		return msg
	}
	return "prompt is too long: " + msg
}

// quotaExhausted tells a spent quota, which waiting a minute does not
// cure, from a rate limit: OpenAI's insufficient_quota, a Google quota id
// counted per day, or text naming a daily quota. "You exceeded your
// current quota" alone is not enough: Gemini says it of per-minute limits
// too.
func (u *upstreamError) quotaExhausted() bool {
	if u.code == "insufficient_quota" || u.typ == "insufficient_quota" {
		return true
	}
	for _, id := range u.quotaIDs {
		if strings.Contains(strings.ToLower(id), "perday") {
			return true
		}
	}
	m := strings.ToLower(u.message)
	return strings.Contains(m, "insufficient_quota") ||
		strings.Contains(m, "quota") && (strings.Contains(m, "per day") || strings.Contains(m, "per-day") ||
			strings.Contains(m, "perday") || strings.Contains(m, "daily"))
}

// upstreamAuthMessage is the message of an upstream's 401 (§4.10): the
// client's own key was accepted, so it names the provider whose key was
// refused.
func upstreamAuthMessage(provider, msg string) string {
	if provider == "" {
		return "upstream: " + msg
	}
	return "upstream " + provider + ": " + msg
}

// clipMessage trims s and cuts it to at most maxErrorMessage bytes, at a
// character boundary, ending a cut message with truncMarker.
func clipMessage(s string) string {
	s = strings.TrimSpace(s)
	if len(s) <= maxErrorMessage {
		return s
	}
	n := maxErrorMessage - len(truncMarker)
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + truncMarker
}

// ---- error bodies ----------------------------------------------------------

// parseUpstreamError reads the common error body shapes: OpenAI's
// {"error":{...}}, FastAPI's {"detail":...}, {"message":...}, a list
// holding one of these (Google's OpenAI-compatible endpoint), or any other
// text, which is the message itself. A numeric code in the body is kept in
// status.
func parseUpstreamError(body []byte) upstreamError {
	body = bytes.TrimSpace(body)
	var e upstreamError
	if len(body) > 0 && body[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(body, &list) == nil && len(list) > 0 {
			e = parseErrorValue(list[0])
		}
	} else if len(body) > 0 && body[0] == '{' {
		e = parseErrorValue(body)
	}
	if e.message == "" {
		e.message = string(body)
	}
	return e
}

// parseErrorValue reads an error envelope or an error object.
func parseErrorValue(raw []byte) upstreamError {
	var env struct {
		Error  json.RawMessage `json:"error"`
		Detail json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(raw, &env) != nil {
		return upstreamError{}
	}
	switch {
	case hasValue(env.Error):
		if s, ok := jsonString(env.Error); ok {
			e := errorFields(raw)
			e.message = s
			return e
		}
		return errorFields(env.Error)
	case hasValue(env.Detail):
		if s, ok := jsonString(env.Detail); ok {
			return upstreamError{message: s}
		}
		return upstreamError{message: compactArgs(env.Detail)}
	}
	return errorFields(raw)
}

// errorFields reads message, type and code from an error object.
func errorFields(raw []byte) upstreamError {
	var o struct {
		Message json.RawMessage `json:"message"`
		Type    json.RawMessage `json:"type"`
		Code    json.RawMessage `json:"code"`
		Status  json.RawMessage `json:"status"`
	}
	if json.Unmarshal(raw, &o) != nil {
		return upstreamError{}
	}
	var e upstreamError
	e.message, _ = jsonString(o.Message)
	e.typ, _ = jsonString(o.Type)
	if s, ok := jsonString(o.Code); ok {
		e.code = s
	} else if n, err := strconv.Atoi(string(bytes.TrimSpace(o.Code))); err == nil {
		e.status = n
	}
	if e.code == "" {
		e.code, _ = jsonString(o.Status) // Google's "RESOURCE_EXHAUSTED" and the like
	}
	return e
}
