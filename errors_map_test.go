package ccr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestMapUpstreamError walks the rows of the §4.10 table.
func TestMapUpstreamError(t *testing.T) {
	ra := http.Header{"Retry-After": {"7"}}
	tests := []struct {
		name       string
		u          upstreamError
		header     http.Header
		wantStatus int
		wantType   string
		wantMsg    string
		wantRetry  string
	}{
		{"400", upstreamError{status: 400, message: "bad field"}, nil, 400, "invalid_request_error", "bad field", ""},
		{"400 overflow parsed", upstreamError{status: 400, message: "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens."},
			nil, 400, "invalid_request_error", "prompt is too long: 130512 tokens > 128000 maximum", ""},
		{"400 overflow by code", upstreamError{status: 400, code: "context_length_exceeded", message: "Your input exceeds the limits."},
			nil, 400, "invalid_request_error", "prompt is too long: Your input exceeds the limits.", ""},
		{"422 overflow unparsed", upstreamError{status: 422, message: "too many tokens in the prompt"},
			nil, 400, "invalid_request_error", "prompt is too long: too many tokens in the prompt", ""},
		{"overflow numbers the wrong way", upstreamError{status: 400, message: "context length is 8192, you requested 100 tokens"},
			nil, 400, "invalid_request_error", "prompt is too long: context length is 8192, you requested 100 tokens", ""},
		{"overflow already worded", upstreamError{status: 400, message: "prompt is too long: 215692 tokens > 200000 maximum"},
			nil, 400, "invalid_request_error", "prompt is too long: 215692 tokens > 200000 maximum", ""},
		{"overflow worded without numbers", upstreamError{status: 400, message: "prompt is too long"},
			nil, 400, "invalid_request_error", "prompt is too long", ""},
		{"overflow text on a 413", upstreamError{status: 413, message: "context length exceeded"}, nil, 413, "request_too_large", "context length exceeded", ""},
		{"Gemini bad key", upstreamError{status: 400, reason: "API_KEY_INVALID", message: "API key not valid."}, nil, 401, "authentication_error", "upstream p: API key not valid.", ""},
		{"401", upstreamError{status: 401, message: "Incorrect API key"}, nil, 401, "authentication_error", "upstream p: Incorrect API key", ""},
		{"402", upstreamError{status: 402, message: "Insufficient Balance"}, ra, 402, "billing_error", "Insufficient Balance", ""},
		{"403", upstreamError{status: 403, message: "no"}, nil, 403, "permission_error", "no", ""},
		{"404", upstreamError{status: 404, message: "no model"}, nil, 404, "not_found_error", "no model", ""},
		{"408", upstreamError{status: 408}, nil, 504, "timeout_error", "upstream returned HTTP 408 Request Timeout", ""},
		{"409", upstreamError{status: 409, message: "conflict"}, nil, 409, "invalid_request_error", "conflict", ""},
		{"413", upstreamError{status: 413, message: "too big"}, nil, 413, "request_too_large", "too big", ""},
		{"418 unlisted", upstreamError{status: 418, message: "teapot"}, nil, 400, "invalid_request_error", "teapot", ""},
		{"429", upstreamError{status: 429, message: "slow down"}, ra, 429, "rate_limit_error", "slow down", "7"},
		{"429 body delay", upstreamError{status: 429, message: "slow down", retryAfter: "13"}, nil, 429, "rate_limit_error", "slow down", "13"},
		{"429 header beats body delay", upstreamError{status: 429, message: "slow down", retryAfter: "13"}, ra, 429, "rate_limit_error", "slow down", "7"},
		{"429 insufficient_quota code", upstreamError{status: 429, code: "insufficient_quota", message: "You exceeded your current quota."}, ra, 402, "billing_error", "You exceeded your current quota.", ""},
		{"429 insufficient_quota type", upstreamError{status: 429, typ: "insufficient_quota", message: "q"}, nil, 402, "billing_error", "q", ""},
		{"429 per-day text", upstreamError{status: 429, message: "Quota exceeded: requests per day"}, nil, 402, "billing_error", "Quota exceeded: requests per day", ""},
		{"429 daily text", upstreamError{status: 429, message: "daily quota reached"}, nil, 402, "billing_error", "daily quota reached", ""},
		{"429 per-day quota id", upstreamError{status: 429, message: "Quota exceeded", quotaIDs: []string{"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}}, nil, 402, "billing_error", "Quota exceeded", ""},
		{"429 current quota alone", upstreamError{status: 429, message: "You exceeded your current quota", quotaIDs: []string{"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}}, nil, 429, "rate_limit_error", "You exceeded your current quota", ""},
		{"429 per-day rate limit", upstreamError{status: 429, message: "Rate limit exceeded: free-models-per-day"}, nil, 429, "rate_limit_error", "Rate limit exceeded: free-models-per-day", ""},
		{"500", upstreamError{status: 500, message: "oops"}, nil, 500, "api_error", "oops", ""},
		{"501 unlisted", upstreamError{status: 501, message: "oops"}, nil, 502, "api_error", "oops", ""},
		{"502", upstreamError{status: 502, message: "<html>Bad Gateway</html>"}, nil, 502, "api_error", "<html>Bad Gateway</html>", ""},
		{"503", upstreamError{status: 503}, ra, 529, "overloaded_error", "upstream returned HTTP 503 Service Unavailable", "7"},
		{"504", upstreamError{status: 504, message: "late"}, nil, 504, "timeout_error", "late", ""},
		{"520 unlisted", upstreamError{status: 520, message: "cf"}, nil, 502, "api_error", "cf", ""},
		{"529", upstreamError{status: 529, message: "busy"}, nil, 529, "overloaded_error", "busy", ""},
		{"3xx", upstreamError{status: 302, message: "moved"}, nil, 502, "api_error", "moved", ""},
		// Error objects in a 2xx body or a stream.
		{"in body, HTTP code", upstreamError{inBody: true, status: 429, message: "Provider returned error"}, nil, 429, "rate_limit_error", "Provider returned error", ""},
		{"in body, no code", upstreamError{inBody: true, message: "something broke"}, nil, 502, "api_error", "something broke", ""},
		{"in body, empty", upstreamError{inBody: true}, nil, 502, "api_error", "upstream reported an error", ""},
		{"in body, code not a status", upstreamError{inBody: true, status: 1, message: "x"}, nil, 502, "api_error", "x", ""},
		{"in body, rate_limit_exceeded", upstreamError{inBody: true, code: "rate_limit_exceeded", message: "x"}, nil, 429, "rate_limit_error", "x", ""},
		{"in body, overloaded_error type", upstreamError{inBody: true, typ: "overloaded_error", message: "x"}, nil, 529, "overloaded_error", "x", ""},
		{"in body, UNAVAILABLE", upstreamError{inBody: true, code: "UNAVAILABLE", message: "x"}, nil, 529, "overloaded_error", "x", ""},
		{"in body, DEADLINE_EXCEEDED", upstreamError{inBody: true, code: "DEADLINE_EXCEEDED", message: "x"}, nil, 504, "timeout_error", "x", ""},
		{"in body, server_error", upstreamError{inBody: true, code: "server_error", message: "x"}, nil, 500, "api_error", "x", ""},
		{"in body, image error", upstreamError{inBody: true, code: "invalid_image_url", message: "x"}, nil, 400, "invalid_request_error", "x", ""},
		{"in body, insufficient_quota", upstreamError{inBody: true, code: "insufficient_quota", message: "x"}, nil, 402, "billing_error", "x", ""},
		{"in body, context_length_exceeded", upstreamError{inBody: true, code: "context_length_exceeded", message: "Your input exceeds the context window of this model."},
			nil, 400, "invalid_request_error", "prompt is too long: Your input exceeds the context window of this model.", ""},
		{"in body, overflow text only", upstreamError{inBody: true, message: "maximum context length is 10 tokens, you requested 12 tokens"},
			nil, 400, "invalid_request_error", "prompt is too long: 12 tokens > 10 maximum", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mapUpstreamError(tt.u, tt.header, "p")
			if e.status() != tt.wantStatus || e.typ() != tt.wantType || e.Message != tt.wantMsg {
				t.Errorf("mapUpstreamError(%+v) = %d %s %q; want %d %s %q", tt.u, e.status(), e.typ(), e.Message, tt.wantStatus, tt.wantType, tt.wantMsg)
			}
			if got := e.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q; want %q", got, tt.wantRetry)
			}
		})
	}
}

// TestClipMessage checks the one truncation rule: at most 2 KiB, cut at a
// character boundary, marked with "...".
func TestClipMessage(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		cut      bool
	}{
		{"short", "  hello \n", false},
		{"exactly 2 KiB", strings.Repeat("x", maxErrorMessage), false},
		{"one over", strings.Repeat("x", maxErrorMessage+1), true},
		{"multibyte", strings.Repeat("é", maxErrorMessage), true},
		{"four-byte runes", strings.Repeat("😀", maxErrorMessage), true},
	} {
		got := clipMessage(tc.in)
		in := strings.TrimSpace(tc.in)
		switch {
		case len(got) > maxErrorMessage || !utf8.ValidString(got):
			t.Errorf("%s: %d bytes, valid UTF-8 %v", tc.name, len(got), utf8.ValidString(got))
		case !tc.cut && got != in:
			t.Errorf("%s: %q, want it unchanged", tc.name, got)
		case tc.cut && (!strings.HasSuffix(got, truncMarker) || !strings.HasPrefix(in, strings.TrimSuffix(got, truncMarker)) || len(got) < maxErrorMessage-len(truncMarker)-3):
			t.Errorf("%s: cut to %d bytes ending %q", tc.name, len(got), got[max(len(got)-8, 0):])
		}
	}
}

// TestUpstreamErrorsAgree sends the same failure through the OpenAI, the
// Responses and the Gemini converter, as an error answer and as an error
// inside a stream: every format must give the client the same error.
func TestUpstreamErrorsAgree(t *testing.T) {
	oa := newOpenAI(OpenAIOptions{Provider: "p"})
	rs := newResponses(ResponsesOptions{}, "p")
	gm := newGemini(GeminiOptions{}, "p")
	req := rsTestRequest()
	long := strings.Repeat("ab ", 1500)
	for _, tc := range []struct {
		name    string
		status  int
		message string
		gstatus string // Gemini's status string for the code
	}{
		{"quota per day", 429, "Quota exceeded for requests per day", "RESOURCE_EXHAUSTED"},
		{"rate limit", 429, "Too many requests", "RESOURCE_EXHAUSTED"},
		{"unlisted 5xx", 501, "not implemented", "UNIMPLEMENTED"},
		{"overflow parsed", 400, "This model's maximum context length is 1000 tokens. However, you requested 1500 tokens.", "INVALID_ARGUMENT"},
		{"overflow gemini wording", 400, "The input token count (1196265) exceeds the maximum number of tokens allowed (1048575).", "INVALID_ARGUMENT"},
		{"overflow unparsed", 400, "Input is too long: context length exceeded", "INVALID_ARGUMENT"},
		{"long message", 400, long, "INVALID_ARGUMENT"},
		{"overloaded", 503, "The model is overloaded.", "UNAVAILABLE"},
		{"auth", 401, "bad key", "UNAUTHENTICATED"},
		{"internal", 500, "internal", "INTERNAL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, _ := json.Marshal(tc.message)
			openaiBody := fmt.Sprintf(`{"error":{"message":%s,"type":"error","code":%d}}`, msg, tc.status)
			geminiBody := fmt.Sprintf(`{"error":{"code":%d,"message":%s,"status":%q}}`, tc.status, msg, tc.gstatus)
			header := http.Header{"Retry-After": {"5"}}
			got := map[string]*Error{
				"openai answer":    oa.TransformError(tc.status, header, []byte(openaiBody)),
				"responses answer": rs.TransformError(tc.status, header, []byte(openaiBody)),
				"gemini answer":    gm.TransformError(tc.status, header, []byte(geminiBody)),
			}
			stream := func(tr Transformer, sse string) *Error {
				_, err := tr.TransformStream(t.Context(), req, upstreamSSE(strings.NewReader(sse))).ReadEvent()
				e, ok := err.(*Error)
				if !ok {
					t.Fatalf("%T stream: first read = %v, want an *Error", tr, err)
				}
				return e
			}
			inStream := map[string]*Error{
				"openai stream":    stream(oa, "data: "+openaiBody+"\n\n"),
				"responses stream": stream(rs, fmt.Sprintf("event: error\ndata: {\"type\":\"error\",\"code\":%d,\"message\":%s}\n\n", tc.status, msg)),
				"gemini stream":    stream(gm, "data: "+geminiBody+"\n\n"),
			}
			want := got["openai answer"]
			if len(want.Message) > maxErrorMessage+len("prompt is too long: upstream p: ") {
				t.Errorf("message of %d bytes", len(want.Message))
			}
			check := func(name string, e *Error, retry bool) {
				if e.status() != want.status() || e.typ() != want.typ() || e.Message != want.Message {
					t.Errorf("%s = %d %s %q\nwant %d %s %q (openai answer)", name, e.status(), e.typ(), e.Message, want.status(), want.typ(), want.Message)
				}
				if retry && e.Header.Get("Retry-After") != want.Header.Get("Retry-After") {
					t.Errorf("%s: Retry-After %q, want %q", name, e.Header.Get("Retry-After"), want.Header.Get("Retry-After"))
				}
			}
			for name, e := range got {
				check(name, e, true)
			}
			for name, e := range inStream {
				check(name, e, false)
			}
		})
	}
}

// TestParseUpstreamError reads the error body shapes upstreams send.
func TestParseUpstreamError(t *testing.T) {
	for _, tc := range []struct {
		body string
		want upstreamError
	}{
		{`{"error":{"message":"m","type":"t","code":"c"}}`, upstreamError{message: "m", typ: "t", code: "c"}},
		{`{"error":{"message":"m","code":429}}`, upstreamError{message: "m", status: 429}},
		{`{"error":"m","code":503}`, upstreamError{message: "m", status: 503}},
		{`{"detail":"m"}`, upstreamError{message: "m"}},
		{`{"detail":[{"msg":"x"}]}`, upstreamError{message: `[{"msg":"x"}]`}},
		{`[{"error":{"code":400,"message":"m","status":"INVALID_ARGUMENT"}}]`, upstreamError{message: "m", status: 400, code: "INVALID_ARGUMENT"}},
		{`{"message":"m"}`, upstreamError{message: "m"}},
		{` <html>x</html> `, upstreamError{message: "<html>x</html>"}},
	} {
		got := parseUpstreamError([]byte(tc.body))
		if got.message != tc.want.message || got.typ != tc.want.typ || got.code != tc.want.code || got.status != tc.want.status {
			t.Errorf("parseUpstreamError(%s) = %+v, want %+v", tc.body, got, tc.want)
		}
	}
}

// FuzzMapUpstreamError: any error body, in any format, maps to one of
// Anthropic's error types with a status of the table and a bounded,
// valid message.
func FuzzMapUpstreamError(f *testing.F) {
	f.Add(429, []byte(`{"error":{"code":429,"message":"Quota per day","status":"RESOURCE_EXHAUSTED","details":[{"retryDelay":"2s"}]}}`))
	f.Add(400, []byte(`{"error":{"message":"maximum context length is 5 tokens, you requested 9","code":"context_length_exceeded"}}`))
	f.Add(200, []byte(`{"error":{"message":"x"}}`))
	f.Add(599, bytes.Repeat([]byte("é"), 3000))
	trs := []Transformer{newOpenAI(OpenAIOptions{}), newResponses(ResponsesOptions{}, ""), newGemini(GeminiOptions{}, "")}
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		for _, tr := range trs {
			e := tr.TransformError(status, http.Header{}, body)
			switch e.status() {
			case 400, 401, 402, 403, 404, 409, 413, 429, 500, 502, 504, 529:
			default:
				t.Fatalf("%T: status %d", tr, e.status())
			}
			if !isErrorType(e.typ()) || e.typ() != ErrorType(e.status()) {
				t.Fatalf("%T: status %d with type %q", tr, e.status(), e.typ())
			}
			if e.Message == "" || len(e.Message) > maxErrorMessage+len("prompt is too long: upstream: ") {
				t.Fatalf("%T: message of %d bytes", tr, len(e.Message))
			}
		}
	})
}
