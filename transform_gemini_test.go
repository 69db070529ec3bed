package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// genIDRe matches the random part of router-generated ids.
var genIDRe = regexp.MustCompile(`\b(msg|toolu|srvtoolu)_[A-Za-z0-9]{24}`)

func normalizeIDs(b []byte) []byte { return genIDRe.ReplaceAll(b, []byte("${1}_GEN")) }

// geminiTestCase is the input file of a request or response golden case.
type geminiTestCase struct {
	Options  json.RawMessage `json:"options"`
	Request  json.RawMessage `json:"request"`
	Upstream json.RawMessage `json:"upstream"`
}

func loadGeminiCase(t *testing.T, path string) (*gemini, *Request, geminiTestCase) {
	t.Helper()
	var tc geminiTestCase
	dec := json.NewDecoder(bytes.NewReader(readFile(t, path)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var o geminiConfigOptions
	if err := decodeOptions(tc.Options, &o); err != nil {
		t.Fatal(err)
	}
	opts, err := o.options()
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Model: "gemini-2.5-flash"}
	if len(tc.Request) > 0 {
		if err := json.Unmarshal(tc.Request, req); err != nil {
			t.Fatalf("%s: request: %v", path, err)
		}
	}
	req.ClientModel = "gemini," + req.Model
	return newGemini(opts, "gemini"), req, tc
}

// renderResult renders a response or an error for a golden file.
func renderResult(t *testing.T, v any, err error) []byte {
	t.Helper()
	if err != nil {
		e := asError(err)
		b, _ := marshalNoEscape(struct {
			Status int             `json:"status"`
			Header http.Header     `json:"header,omitempty"`
			Body   json.RawMessage `json:"body"`
		}{e.status(), e.Header, e.Body()})
		return indentJSON(t, b)
	}
	b, err := marshalNoEscape(v)
	if err != nil {
		t.Fatal(err)
	}
	return indentJSON(t, normalizeIDs(b))
}

func TestGeminiRequestGolden(t *testing.T) {
	forEachCase(t, "testdata/gemini/request/*.in.json", func(t *testing.T, f string) {
		g, req, _ := loadGeminiCase(t, f)
		up, err := g.TransformRequest(t.Context(), req)
		var got []byte
		if err != nil {
			got = renderResult(t, nil, err)
		} else {
			got = append([]byte(fmt.Sprintf("POST %s\n", up.Path)), indentJSON(t, up.Body)...)
			if !json.Valid(up.Body) {
				t.Fatalf("invalid JSON body")
			}
		}
		checkGolden(t, strings.TrimSuffix(f, ".in.json")+".golden", got)
	})
}

func TestGeminiResponseGolden(t *testing.T) {
	forEachCase(t, "testdata/gemini/response/*.in.json", func(t *testing.T, f string) {
		g, req, tc := loadGeminiCase(t, f)
		resp, err := g.TransformResponse(t.Context(), req, tc.Upstream)
		checkGolden(t, strings.TrimSuffix(f, ".in.json")+".golden.json", renderResult(t, resp, err))
	})
}

// renderGeminiStream renders the events and the final error of a stream
// for a golden file, with generated ids masked.
func renderGeminiStream(evs []Event, err error) []byte {
	buf := eventsSSE(evs)
	if err != nil {
		e := asError(err)
		buf = fmt.Appendf(buf, ": status %d, truncated %v\n", e.status(), errors.Is(err, ErrTruncated))
		buf = AppendEvent(buf, errorEvent(e))
	}
	return normalizeIDs(buf)
}

func TestGeminiStreamGolden(t *testing.T) {
	forEachCase(t, "testdata/gemini/stream/*", func(t *testing.T, dir string) {
		g, req := newGemini(GeminiOptions{}, "gemini"), &Request{Model: "gemini-2.5-flash"}
		if _, err := os.Stat(filepath.Join(dir, "request.json")); err == nil {
			g, req, _ = loadGeminiCase(t, filepath.Join(dir, "request.json"))
		}
		req.ClientModel = "gemini," + req.Model
		checkStreamVariants(t, streamRules{}, readFile(t, filepath.Join(dir, "upstream.sse")), filepath.Join(dir, "want.sse"),
			func(src EventReader) EventReader { return g.TransformStream(t.Context(), req, src) }, renderGeminiStream)
	})
}

// TestGeminiToolIDs checks the tool-id format of protocol.md §4.6.2 and its
// round trip.
func TestGeminiToolIDs(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	for _, sig := range []string{"", "CiQBVAIAAA==", "a+b/c=", "////++++", "AAAA", "Eu8BCuwBAdHtim9+/x=="} {
		id := geminiToolID(sig)
		if !valid.MatchString(id) {
			t.Errorf("geminiToolID(%q) = %q; not [a-zA-Z0-9_-]+", sig, id)
		}
		if !regexp.MustCompile(`^toolu_[A-Za-z0-9]{24}`).MatchString(id) {
			t.Errorf("geminiToolID(%q) = %q; want toolu_<24>", sig, id)
		}
		_, back := geminiSplitToolID(id)
		want := sig
		if want != "" {
			want = strings.TrimRight(sig, "=")
			for len(want)%4 != 0 {
				want += "="
			}
		}
		if back != want {
			t.Errorf("signature %q came back as %q", sig, back)
		}
	}
	if got := geminiToolID("CiQBVAIAAA=="); !strings.HasSuffix(got, "__tsig_CiQBVAIAAA") {
		t.Errorf("geminiToolID = %q; want suffix __tsig_CiQBVAIAAA (E46)", got)
	}
	if a, b := geminiToolID(""), geminiToolID(""); a == b {
		t.Errorf("two ids equal: %s", a)
	}
}

func TestGeminiNames(t *testing.T) {
	tools := []Tool{{Name: "get.weather/v2"}, {Name: "2fa-code"}, {Name: "a.b"}, {Name: "a_b"}, {Name: "x y"}, {Name: "x_y"},
		{Name: strings.Repeat("n", 70)}, {Name: "web", Type: "web_search_20250305"}}
	n := newGeminiNames(tools)
	want := map[string]string{ // E70 and the collision rule
		"get.weather/v2": "get.weather_v2", "2fa-code": "_2fa-code", "a.b": "a.b", "a_b": "a_b",
		"x y": "x_y", "x_y": "x_y_" + nameHash("x_y"),
		strings.Repeat("n", 70): strings.Repeat("n", 55) + "_" + nameHash(strings.Repeat("n", 70)),
	}
	for orig, up := range want {
		if got := n.upstream(orig); got != up {
			t.Errorf("upstream(%q) = %q; want %q", orig, got, up)
		}
		if got := n.original(up); got != orig {
			t.Errorf("original(%q) = %q; want %q", up, got, orig)
		}
		if len(up) > 64 {
			t.Errorf("%q longer than 64", up)
		}
	}
	if got := n.original("unknown_fn"); got != "unknown_fn" {
		t.Errorf("unknown names must pass through, got %q", got)
	}
	if got := n.upstream("Not-Declared!"); got != "Not-Declared_" {
		t.Errorf("history-only name = %q", got)
	}
}

// E82, Gemini rows, and the rest of the §4.10 table.
func TestGeminiTransformError(t *testing.T) {
	g := newGemini(GeminiOptions{}, "gem")
	tests := []struct {
		name       string
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
		wantRetry  string
	}{
		{"bad key", 400, nil, `{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT","details":[{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":"API_KEY_INVALID","domain":"googleapis.com"}]}}`,
			401, "authentication_error", "upstream gem: API key not valid. Please pass a valid API key.", ""},
		{"overloaded", 503, nil, `{"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}`,
			529, "overloaded_error", "The model is overloaded. Please try again later.", ""},
		{"rate limit", 429, nil, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}`,
			429, "rate_limit_error", "Resource has been exhausted (e.g. check quota).", "13"},
		{"rate limit fractional", 429, nil, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"1.2s"}]}}`,
			429, "rate_limit_error", "q", "2"},
		{"rate limit header wins", 429, http.Header{"Retry-After": {"7"}}, `{"error":{"code":429,"message":"q","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"13s"}]}}`,
			429, "rate_limit_error", "q", "7"},
		{"context overflow", 400, nil, `{"error":{"code":400,"message":"The input token count (1196265) exceeds the maximum number of tokens allowed (1048575).","status":"INVALID_ARGUMENT"}}`,
			400, "invalid_request_error", "prompt is too long: 1196265 tokens > 1048575 maximum", ""},
		{"bad request", 400, nil, `{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"additionalProperties\"","status":"INVALID_ARGUMENT"}}`,
			400, "invalid_request_error", `Invalid JSON payload received. Unknown name "additionalProperties"`, ""},
		{"unauthenticated", 401, nil, `{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`,
			401, "authentication_error", "upstream gem: Request had invalid authentication credentials.", ""},
		{"permission", 403, nil, `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`, 403, "permission_error", "denied", ""},
		{"not found", 404, nil, `{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}`, 404, "not_found_error", "models/x is not found", ""},
		{"internal", 500, nil, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`, 500, "api_error", "An internal error has occurred.", ""},
		{"deadline", 504, nil, `{"error":{"code":504,"message":"Deadline expired","status":"DEADLINE_EXCEEDED"}}`, 504, "timeout_error", "Deadline expired", ""},
		{"array body", 400, nil, `[{"error":{"code":400,"message":"in an array","status":"INVALID_ARGUMENT"}}]`, 400, "invalid_request_error", "in an array", ""},
		{"html", 502, nil, `<html>Bad Gateway</html>`, 502, "api_error", "<html>Bad Gateway</html>", ""},
		{"empty", 500, nil, ``, 500, "api_error", "upstream returned HTTP 500 Internal Server Error", ""},
		{"unlisted 5xx", 501, nil, `{"error":{"code":501,"message":"not implemented","status":"UNIMPLEMENTED"}}`, 502, "api_error", "not implemented", ""},
		{"quota per day", 429, nil, `{"error":{"code":429,"message":"You exceeded your current quota. Quota exceeded for metric: generate_content_free_tier_requests, limit: 250","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests","quotaId":"GenerateRequestsPerDayPerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"40s"}]}}`,
			402, "billing_error", "You exceeded your current quota. Quota exceeded for metric: generate_content_free_tier_requests, limit: 250", ""},
		{"quota per minute", 429, nil, `{"error":{"code":429,"message":"You exceeded your current quota. Quota exceeded for metric: generate_content_free_tier_requests, limit: 10","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure","violations":[{"quotaId":"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"40s"}]}}`,
			429, "rate_limit_error", "You exceeded your current quota. Quota exceeded for metric: generate_content_free_tier_requests, limit: 10", "40"},
		{"409", 409, nil, `{"error":{"code":409,"message":"conflict","status":"ABORTED"}}`, 409, "invalid_request_error", "conflict", ""},
		{"413", 413, nil, `{"error":{"code":413,"message":"too big"}}`, 413, "request_too_large", "too big", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := tt.header
			if h == nil {
				h = http.Header{}
			}
			e := g.TransformError(tt.status, h, []byte(tt.body))
			if e.status() != tt.wantStatus || e.typ() != tt.wantType || e.Message != tt.wantMsg {
				t.Errorf("TransformError(%d) = %d %s %q; want %d %s %q", tt.status, e.status(), e.typ(), e.Message, tt.wantStatus, tt.wantType, tt.wantMsg)
			}
			if got := e.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q; want %q", got, tt.wantRetry)
			}
		})
	}
	long := strings.Repeat("x", 5000)
	if e := g.TransformError(502, http.Header{}, []byte(long)); len(e.Message) != 2048 || !strings.HasSuffix(e.Message, "...") {
		t.Errorf("raw body message length %d, ending %q; want 2048 ending in ...", len(e.Message), e.Message[len(e.Message)-5:])
	}
}

// E61: an image URL is downloaded and inlined; a failed download is a 400
// naming the URL without its query.
func TestGeminiImageFetch(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/b.jpg":
			w.Header().Set("Content-Type", "image/jpeg")
			w.Write([]byte("JPEGDATA"))
		case "/sniff":
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(png)
		case "/big":
			w.Header().Set("Content-Type", "image/png")
			w.Write(make([]byte, 2048))
		case "/html":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<html></html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	req := func(u string) *Request {
		return &Request{Model: "gemini-2.5-flash", MaxTokens: 10, Messages: []Message{{Role: "user", Content: Content{
			{Type: "text", Text: "Compare"},
			{Type: "image", Source: &Source{Type: "url", URL: u}},
		}}}}
	}
	g := newGemini(GeminiOptions{ImageFetchAllowPrivate: true, ImageFetchMaxBytes: 1024}, "")
	tests := []struct {
		path    string
		wantMT  string
		wantErr string
	}{
		{"/b.jpg", "image/jpeg", ""},
		{"/sniff", "image/png", ""},
		{"/missing.jpg?token=secret", "", "Unable to download image from " + srv.URL + "/missing.jpg: status 404"},
		{"/big", "", "Unable to download image from " + srv.URL + "/big: larger than 1024 bytes"},
		{"/html", "", `Unable to download image from ` + srv.URL + `/html: unsupported content type "text/html"`},
	}
	for _, tt := range tests {
		up, err := g.TransformRequest(t.Context(), req(srv.URL+tt.path))
		if tt.wantErr != "" {
			var e *Error
			if !errors.As(err, &e) || e.status() != 400 || e.typ() != "invalid_request_error" || e.Message != tt.wantErr {
				t.Errorf("%s: err = %v; want 400 %q", tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.path, err)
		}
		var body geminiRequest
		json.Unmarshal(up.Body, &body)
		p := body.Contents[0].Parts[1]
		if p.InlineData == nil || p.InlineData.MimeType != tt.wantMT {
			t.Errorf("%s: part %+v; want inlineData %s", tt.path, p, tt.wantMT)
		}
	}
	// By default, loopback is refused before connecting.
	def := newGemini(GeminiOptions{}, "")
	_, err := def.TransformRequest(t.Context(), req(srv.URL+"/b.jpg"))
	var e *Error
	if !errors.As(err, &e) || e.status() != 400 || !strings.HasSuffix(e.Message, ": address not allowed") {
		t.Errorf("private fetch: err = %v; want 400 address not allowed", err)
	}
	for _, a := range []string{"127.0.0.1", "10.1.2.3", "192.168.0.1", "169.254.169.254", "100.64.0.1", "::1", "fd00::1", "0.0.0.0", "::ffff:127.0.0.1"} {
		if geminiPublicAddr(mustAddr(t, a)) {
			t.Errorf("%s counted as public", a)
		}
	}
	for _, a := range []string{"8.8.8.8", "2606:4700::1111"} {
		if !geminiPublicAddr(mustAddr(t, a)) {
			t.Errorf("%s counted as private", a)
		}
	}
}

func TestGeminiPaths(t *testing.T) {
	for _, tt := range []struct{ base, path, want string }{
		{"https://generativelanguage.googleapis.com/v1beta/models/", "gemini-2.5-flash:generateContent", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{"https://generativelanguage.googleapis.com/v1beta/models", "gemini-2.5-flash:generateContent", "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"},
		{"http://127.0.0.1:1/x/", "", "http://127.0.0.1:1/x/"},
	} {
		if got := joinURL(tt.base, tt.path); got != tt.want {
			t.Errorf("joinURL(%q, %q) = %q; want %q", tt.base, tt.path, got, tt.want)
		}
	}
	g := NewGemini(GeminiOptions{})
	up, err := g.TransformRequest(t.Context(), &Request{Model: "gemini-2.5-flash", Stream: true, MaxTokens: 5, Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if up.Path != "gemini-2.5-flash:streamGenerateContent?alt=sse" || up.Auth != "x-goog-api-key" || !up.Stream || up.URL != "" {
		t.Errorf("upstream request = %+v", up)
	}
	if up.Header.Get("Authorization") != "" || up.Header.Get("X-Goog-Api-Key") != "" {
		t.Errorf("credentials in transformer headers: %v", up.Header)
	}
	up, _ = g.TransformRequest(t.Context(), &Request{Model: "my model?x", MaxTokens: 5, Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}}})
	if up.Path != "my%20model%3Fx:generateContent" {
		t.Errorf("escaped path = %q", up.Path)
	}
}

func TestGeminiTransformerDefs(t *testing.T) {
	defs := DefaultTransformers()
	for _, name := range []string{"gemini", "vertex-gemini", "vertex-claude"} {
		d, ok := defs[name]
		if !ok || d.Description == "" || d.Endpoint == "" || d.Apply == nil {
			t.Fatalf("%s: def %+v", name, d)
		}
	}
	c := &Chain{Provider: "g", Env: func(string) string { return "" }}
	if err := defs["gemini"].Apply(c, nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.Format.(*gemini); !ok {
		t.Fatalf("Format = %T", c.Format)
	}
	if err := defs["gemini"].Apply(c, json.RawMessage(`{"schema_mode":"jsonschema","max_output_tokens":8192}`)); err != nil {
		t.Fatal(err)
	}
	if g := c.Format.(*gemini); g.opts.SchemaMode != "jsonschema" || g.opts.MaxOutputTokens != 8192 || g.provider != "g" {
		t.Errorf("options not applied: %+v", g.opts)
	}
	for _, bad := range []string{`{"schema_mode":"yaml"}`, `{"unknown":1}`, `{"max_output_tokens":"8192"}`, `{"max_output_tokens":-1}`, `[1]`} {
		if err := defs["gemini"].Apply(c, json.RawMessage(bad)); err == nil {
			t.Errorf("options %s accepted", bad)
		}
	}
}

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// E80: count_tokens through Gemini's countTokens.
func TestGeminiCountTokens(t *testing.T) {
	g := newGemini(GeminiOptions{}, "")
	var req Request
	if err := json.Unmarshal([]byte(`{"model":"gemini-2.5-flash","system":"Be brief.","messages":[{"role":"user","content":"Hello"}]}`), &req); err != nil {
		t.Fatal(err)
	}
	up, err := g.CountTokensRequest(t.Context(), &req)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"generateContentRequest":{"model":"models/gemini-2.5-flash","contents":[{"role":"user","parts":[{"text":"Hello"}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]}}}`
	if up.Path != "gemini-2.5-flash:countTokens" || string(up.Body) != want || up.Auth != "x-goog-api-key" {
		t.Errorf("countTokensRequest = %s %s", up.Path, up.Body)
	}
	if n, err := g.CountTokensResponse([]byte(`{"totalTokens":7}`)); n != 7 || err != nil {
		t.Errorf("countTokensResponse = %d, %v", n, err)
	}
	if _, err := g.CountTokensResponse([]byte(`{}`)); err == nil {
		t.Errorf("countTokensResponse accepted a body without totalTokens")
	}
}
