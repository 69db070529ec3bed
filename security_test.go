package ccr

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// A sweep over the reference's security weaknesses (ccr-behaviour.md
// §14) that concern the Router: none may be reproducible. The management
// API's (file reads, config writes) are tested with it.

// §14.9: the client key is compared in constant time, every malformed
// variant is refused, and a malformed Authorization header does not shadow
// a valid x-api-key (nor the other way round).
func TestSecurityClientAuth(t *testing.T) {
	t.Parallel()
	_, srv := serve(t, testConfig(t, nil, anthropicProvider("a", okUpstream(t).URL)))
	for _, tt := range []struct {
		name   string
		hdr    map[string]string
		status int
	}{
		{"none", nil, 401},
		{"x-api-key", map[string]string{"X-Api-Key": "client-key"}, 200},
		{"bearer", map[string]string{"Authorization": "Bearer client-key"}, 200},
		{"bearer, any case", map[string]string{"Authorization": "bEaReR client-key"}, 200},
		{"prefix", map[string]string{"X-Api-Key": "client-ke"}, 401},
		{"longer", map[string]string{"X-Api-Key": "client-key2"}, 401},
		{"trailing space", map[string]string{"X-Api-Key": "client-key "}, 200}, // net/http trims header values
		{"trailing tab", map[string]string{"X-Api-Key": "client-key\tx"}, 401},
		{"other case", map[string]string{"X-Api-Key": "CLIENT-KEY"}, 401},
		{"empty", map[string]string{"X-Api-Key": ""}, 401},
		{"bearer without token", map[string]string{"Authorization": "Bearer "}, 401},
		{"basic", map[string]string{"Authorization": "Basic Y2xpZW50LWtleQ=="}, 401},
		{"the key without a scheme", map[string]string{"Authorization": "client-key"}, 401},
		{"malformed authorization, valid x-api-key", map[string]string{"Authorization": "Bearer", "X-Api-Key": "client-key"}, 200},
		{"wrong bearer, valid x-api-key", map[string]string{"Authorization": "Bearer nope", "X-Api-Key": "client-key"}, 200},
		{"wrong x-api-key, valid bearer", map[string]string{"X-Api-Key": "nope", "Authorization": "Bearer client-key"}, 200},
	} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/messages", strings.NewReader(msgBody("hi", false)))
		for k, v := range tt.hdr {
			req.Header[k] = []string{v}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		o := outcome{status: resp.StatusCode, header: resp.Header}
		o.body, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		parseOutcome(&o)
		if o.status != tt.status || tt.status == 401 && o.errType != "authentication_error" {
			t.Errorf("%s: %v; want %d", tt.name, o, tt.status)
		}
	}
}

// §14.3, §14.4: without an APIKEY the router answers only requests
// addressed to a loopback name (DNS rebinding) and from its own origin.
func TestSecurityNoKeyLoopbackOnly(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil, anthropicProvider("a", okUpstream(t).URL))
	cfg.APIKey = ""
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		host, origin string
		status       int
	}{
		{"127.0.0.1:3456", "", 200},
		{"127.0.0.2:3456", "", 200},
		{"localhost:3456", "", 200},
		{"LOCALHOST", "", 200},
		{"[::1]:3456", "http://[::1]:3456", 200},
		{"127.0.0.1:3456", "http://127.0.0.1:3456", 200},
		{"localhost:3456", "http://localhost:3456", 200},
		{"evil.example", "", 403},
		{"evil.example:3456", "http://evil.example:3456", 403}, // a rebound name, same-origin
		{"127.0.0.1.nip.io:3456", "", 403},
		{"localhost.evil.example:3456", "", 403},
		{"", "", 403},
		{"127.0.0.1:3456", "http://evil.example", 403},
		{"127.0.0.1:3456", "https://evil.example", 403},
		{"127.0.0.1:3456", "http://127.0.0.1:3456.evil.example", 403},
		{"127.0.0.1:3456", "null", 403},
		{"127.0.0.1:3456", "http://localhost:3456", 403}, // another origin, though loopback
		{"127.0.0.1:3456", "file://", 403},
	} {
		r := httptest.NewRequest("POST", "/v1/messages", strings.NewReader(msgBody("hi", false)))
		r.Host = tt.host
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, r)
		if w.Code != tt.status {
			t.Errorf("Host %q Origin %q: %d; want %d (%s)", tt.host, tt.origin, w.Code, tt.status, w.Body)
		}
		if tt.status == 403 && !strings.Contains(w.Body.String(), `"type":"permission_error"`) {
			t.Errorf("Host %q Origin %q: body %s", tt.host, tt.origin, w.Body)
		}
	}
}

// panicking is a format whose every method panics, as a buggy custom
// transformer would.
type panicking struct{ where string }

func (p panicking) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	if p.where == "request" {
		panic("boom at /home/me/secret/path.go:42")
	}
	return NewAnthropic(AnthropicOptions{}).TransformRequest(ctx, req)
}

func (p panicking) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	panic("boom")
}

func (p panicking) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	n := 0
	return EventReaderFunc(func() (Event, error) {
		if n++; n == 3 {
			var m map[string]int
			m["nil map"]++ // a runtime error, with a stack
		}
		return src.ReadEvent()
	})
}

func (p panicking) TransformError(status int, header http.Header, body []byte) *Error {
	panic("boom")
}

// §14.10: no stack trace, source path or panic value reaches a client; a
// panic fails its own request only, and is logged with its stack.
func TestSecurityNoStackTraces(t *testing.T) {
	t.Parallel()
	var sink logSink
	up := okUpstream(t)
	cfg := testConfig(t, &sink, anthropicProvider("a", up.URL))
	cfg.Transformers = DefaultTransformers()
	for _, where := range []string{"request", "response"} {
		cfg.Transformers["panic-"+where] = TransformerDef{Name: "panic-" + where, Apply: func(c *Chain, _ json.RawMessage) error {
			c.Format = panicking{where}
			return nil
		}}
	}
	cfg.Providers = append(cfg.Providers,
		ProviderConfig{Name: "preq", BaseURL: up.URL + "/v1/messages", Use: []TransformerUse{{Name: "panic-request"}}},
		ProviderConfig{Name: "presp", BaseURL: up.URL + "/v1/messages", Use: []TransformerUse{{Name: "panic-response"}}})
	_, srv := serve(t, cfg)
	for _, tt := range []struct {
		provider string
		stream   bool
		status   int
	}{
		{"preq", false, 500},
		{"presp", false, 500},
		{"presp", true, 200}, // the stream had started: an error frame
	} {
		o := call(t, nil, srv.URL, strings.Replace(msgBody("hi", tt.stream), "claude-sonnet-4-5", tt.provider+",claude-up", 1))
		if o.status != tt.status || o.errType != "api_error" || o.errMsg != "internal error" {
			t.Errorf("%s stream=%v: %v", tt.provider, tt.stream, o)
		}
		for _, leak := range []string{"goroutine", ".go:", "boom", "panic", "nil map"} {
			if strings.Contains(string(o.body), leak) {
				t.Errorf("%s stream=%v: %q reached the client: %s", tt.provider, tt.stream, leak, o.body)
			}
		}
		if o := call(t, nil, srv.URL, msgBody("hi", tt.stream)); o.status != 200 {
			t.Fatalf("after a panic: %v", o)
		}
	}
	panics := sink.records("panic serving request")
	if len(panics) != 3 || panics[0]["level"] != "ERROR" || !strings.Contains(fmt.Sprint(panics[0]["stack"]), "goroutine") {
		t.Errorf("panic log records = %v", panics)
	}
}

// §14.6, §4.10: a provider key quoted by an upstream never reaches the
// client, the access record or the log, wherever the upstream puts it.
func TestSecurityUpstreamKeyNeverEchoed(t *testing.T) {
	t.Parallel()
	const key = "sk-ant-api03-SECRETSECRETSECRET"
	long := strings.Repeat("x", 2048-len("invalid key ")-10) // puts the key across the 2 KiB cut
	for _, tt := range []struct {
		name   string
		stream bool
		answer func(w http.ResponseWriter)
	}{
		{"JSON error message", false, func(w http.ResponseWriter) {
			w.WriteHeader(401)
			fmt.Fprintf(w, `{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key %s"}}`, key)
		}},
		{"plain text body", false, func(w http.ResponseWriter) {
			w.WriteHeader(403)
			fmt.Fprintf(w, "forbidden: key=%s\n", key)
		}},
		{"key across the message cut", false, func(w http.ResponseWriter) {
			w.WriteHeader(500)
			fmt.Fprintf(w, "invalid key %s%s", long, key)
		}},
		{"error event before the stream", true, func(w http.ResponseWriter) {
			writeSSE(w, fmt.Sprintf("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"busy for %s\"}}\n\n", key))
		}},
		{"error event mid-stream", true, func(w http.ResponseWriter) {
			writeSSE(w, sseFrames[0], sseFrames[1], fmt.Sprintf("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"failed for %s\"}}\n\n", key))
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var sink logSink
			up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { tt.answer(w) })
			cfg := testConfig(t, &sink, anthropicProvider("a", up.URL, key))
			rt, srv := serve(t, cfg)
			o := call(t, nil, srv.URL, msgBody("hi", tt.stream))
			if o.errType == "" {
				t.Fatalf("no error: %v", o)
			}
			if strings.Contains(string(o.body), "SECRET") {
				t.Errorf("the key (or a piece of it) reached the client: %s", o.body)
			}
			recs, _ := json.Marshal(rt.RecentRequests())
			if bytes.Contains(recs, []byte("SECRET")) {
				t.Errorf("the key reached the access records: %s", recs)
			}
			if strings.Contains(sink.String(), "SECRET") {
				t.Errorf("the key reached the log: %s", sink.String())
			}
		})
	}
}

// §2.10: the client's credentials and cookies never go upstream, in
// either format.
func TestSecurityClientCredentialsStayHere(t *testing.T) {
	t.Parallel()
	for _, f := range faultFormats {
		var mu sync.Mutex
		var got []http.Header
		up := newUpstream(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			mu.Lock()
			got = append(got, r.Header.Clone())
			mu.Unlock()
			f.answer(w, body)
		})
		_, srv := serve(t, testConfig(t, nil, f.provider("a", up.URL)))
		for _, stream := range []bool{false, true} {
			req, _ := http.NewRequest("POST", srv.URL+"/v1/messages", strings.NewReader(msgBody("hi", stream)))
			req.Header.Set("Authorization", "Bearer client-key")
			req.Header.Set("Cookie", "session=client-cookie")
			req.Header.Set("Proxy-Authorization", "Basic client-proxy")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d", f.name, resp.StatusCode)
			}
		}
		for _, h := range got {
			for k, vs := range h {
				for _, v := range vs {
					if strings.Contains(v, "client-") {
						t.Errorf("%s: client credential went upstream in %s: %q", f.name, k, v)
					}
				}
			}
			if h.Get("Authorization")+h.Get("X-Api-Key") == "" {
				t.Errorf("%s: no provider credential upstream: %v", f.name, h)
			}
		}
	}
}

// §14.6, STYLE §2.7: secrets print as REDACTED through slog (JSON and
// text), fmt and encoding/json, and Router.Config hands them out redacted.
func TestSecuritySecretsRedacted(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil, anthropicProvider("a", "http://127.0.0.1:1", "sk-provider-SECRET-1", "sk-provider-SECRET-2"))
	cfg.APIKey = "client-SECRET"
	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
		l := slog.New(h)
		l.Info("config", "cfg", cfg, "provider", cfg.Providers[0], "key", cfg.APIKey, "keys", cfg.Providers[0].APIKeys)
		l.Info("attrs", slog.Any("cfg", &cfg), slog.Group("g", "key", cfg.APIKey))
	}
	fmt.Fprintf(&buf, "%v %+v %#v %s %v", cfg, cfg, cfg, cfg.APIKey, cfg.Providers)
	j, _ := json.Marshal(cfg.Providers)
	buf.Write(j)
	rt, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	live := rt.Config()
	fmt.Fprintf(&buf, "%+v", live)
	j, _ = json.Marshal(live.Providers)
	buf.Write(j)
	if bytes.Contains(buf.Bytes(), []byte("SECRET")) {
		t.Errorf("a secret printed:\n%s", buf.String())
	}
	if !bytes.Contains(buf.Bytes(), []byte("REDACTED")) {
		t.Errorf("secrets not marked REDACTED:\n%s", buf.String())
	}
}

// §14.11: the default request body cap is 32 MiB, not 50 MB.
func TestSecurityDefaultBodyCap(t *testing.T) {
	t.Parallel()
	_, srv := serve(t, testConfig(t, nil, anthropicProvider("a", okUpstream(t).URL)))
	o := postRaw(t, srv.URL, io.MultiReader(strings.NewReader(`{"model":"`), strings.NewReader(strings.Repeat("x", 32<<20))), -1)
	if o.status != 413 || o.errType != "request_too_large" || o.errMsg != "request body exceeds 33554432 bytes" {
		t.Errorf("33 MiB body: %v", o)
	}
}

func TestRedactKeyCutByTruncation(t *testing.T) {
	t.Parallel()
	p := &provider{secrets: [][]byte{[]byte("sk-live-0123456789abcdef")}}
	for _, tt := range []struct{ in, want string }{
		{"bad key sk-live-0123456789abcdef here", "bad key [REDACTED] here"},
		{"quota for sk-live-01234...", "quota for [REDACTED]..."},
		{"ends with sk-live-0123", "ends with [REDACTED]"},
		{"short sk-...", "short sk-..."},
		{"no key at all...", "no key at all..."},
	} {
		if got := p.redact(tt.in); got != tt.want {
			t.Errorf("redact(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}
