package ccr

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeCreds writes a service-account file for the fake token server and
// returns its path.
func writeCreds(t *testing.T, f *fakeTokenServer) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "sa.json")
	if err := os.WriteFile(p, serviceAccountJSON(t, f.URL+"/token"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveVertex(t *testing.T) {
	f := newFakeTokenServer(t)
	path := writeCreds(t, f)
	tests := []struct {
		name        string
		opts        VertexOptions
		def         string
		wantProject string
		wantLoc     string
		wantOrigin  string
		wantErr     string
	}{
		{"env credentials, project from key", VertexOptions{Env: envMap(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path})}, "us-central1",
			"proj-from-key", "us-central1", "https://us-central1-aiplatform.googleapis.com", ""},
		{"env project and location", VertexOptions{Env: envMap(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path, "GOOGLE_CLOUD_PROJECT": "p-env", "GOOGLE_CLOUD_LOCATION": "europe-west4"})}, "us-central1",
			"p-env", "europe-west4", "https://europe-west4-aiplatform.googleapis.com", ""},
		{"options win", VertexOptions{Credentials: path, Project: "p-opt", Location: "global", Env: envMap(map[string]string{"GOOGLE_CLOUD_PROJECT": "p-env"})}, "us-east5",
			"p-opt", "global", "https://aiplatform.googleapis.com", ""},
		{"claude default location", VertexOptions{Credentials: path}, "us-east5", "proj-from-key", "us-east5", "https://us-east5-aiplatform.googleapis.com", ""},
		{"base URL origin", VertexOptions{Credentials: path, BaseURL: "http://127.0.0.1:9/some/path/"}, "us-east5", "proj-from-key", "us-east5", "http://127.0.0.1:9", ""},
		{"home ADC file", VertexOptions{Env: envMap(map[string]string{"HOME": homeWithADC(t, f)})}, "us-central1", "proj-from-key", "us-central1", "https://us-central1-aiplatform.googleapis.com", ""},
		{"no credentials", VertexOptions{Env: envMap(nil)}, "us-central1", "", "", "", "no credentials"},
		{"missing file", VertexOptions{Credentials: filepath.Join(t.TempDir(), "nope.json")}, "us-central1", "", "", "", "read credentials"},
		{"bad location", VertexOptions{Credentials: path, Location: "us/central"}, "us-central1", "", "", "", "plain names"},
		{"no project", VertexOptions{CredentialsJSON: []byte(`{"type":"authorized_user","client_id":"a","client_secret":"b","refresh_token":"c"}`)}, "x", "", "", "", "no project"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vc, err := resolveVertex(tt.opts, tt.def)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v; want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if vc.project != tt.wantProject || vc.location != tt.wantLoc || vc.origin != tt.wantOrigin {
				t.Errorf("got %s %s %s; want %s %s %s", vc.project, vc.location, vc.origin, tt.wantProject, tt.wantLoc, tt.wantOrigin)
			}
		})
	}
}

func homeWithADC(t *testing.T, f *fakeTokenServer) string {
	home := t.TempDir()
	dir := filepath.Join(home, ".config", "gcloud")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "application_default_credentials.json"), serviceAccountJSON(t, f.URL+"/token"), 0o600)
	return home
}

func testRequest(stream bool) *Request {
	return &Request{Model: "gemini-2.5-flash", ClientModel: "vx,gemini-2.5-flash", MaxTokens: 100, Stream: stream,
		Messages: []Message{{Role: "user", Content: Content{{Type: "text", Text: "hi"}}}}}
}

func TestVertexGeminiRequest(t *testing.T) {
	f := newFakeTokenServer(t)
	v, err := NewVertexGemini(VertexOptions{Credentials: writeCreds(t, f), Project: "p1", Location: "us-central1", Transport: f.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	for _, stream := range []bool{false, true} {
		req := testRequest(stream)
		up, err := v.TransformRequest(t.Context(), req)
		if err != nil {
			t.Fatal(err)
		}
		want := "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash:generateContent"
		if stream {
			want = "https://us-central1-aiplatform.googleapis.com/v1beta1/projects/p1/locations/us-central1/publishers/google/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
		}
		if up.URL != want || up.Path != "" || up.Auth != "none" || up.Stream != stream {
			t.Errorf("upstream = %+v; want URL %s", up, want)
		}
		if got := up.Header.Get("Authorization"); got != "Bearer tok-1" {
			t.Errorf("Authorization = %q", got)
		}
		gb, _ := newGemini(GeminiOptions{}, "").encodeRequest(t.Context(), req)
		if !bytes.Equal(up.Body, gb) {
			t.Errorf("body differs from the Gemini API body:\n%s\n%s", up.Body, gb)
		}
	}
	if n := f.calls.Load(); n != 1 {
		t.Errorf("token fetched %d times; want 1", n)
	}
	// A 401 from Vertex drops the token; the next request fetches a new one.
	e := v.TransformError(401, http.Header{}, []byte(`{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}`))
	if e.status() != 401 || e.typ() != "authentication_error" {
		t.Errorf("TransformError = %v", e)
	}
	up, _ := v.TransformRequest(t.Context(), testRequest(false))
	if got := up.Header.Get("Authorization"); got != "Bearer tok-2" {
		t.Errorf("after 401, Authorization = %q; want a fresh token", got)
	}
	// Token failures surface as the request's error.
	f.status = 400
	v.(*vertexGemini).vc.ts.invalidate()
	if _, err := v.TransformRequest(t.Context(), testRequest(false)); err == nil {
		t.Errorf("TransformRequest succeeded without a token")
	}
}

func TestVertexClaudeRequest(t *testing.T) {
	f := newFakeTokenServer(t)
	v, err := NewVertexClaude(VertexOptions{Credentials: writeCreds(t, f), Transport: f.Client().Transport})
	if err != nil {
		t.Fatal(err)
	}
	raw := []byte(`{"model":"vc,claude-sonnet-4-5@20250929",  "max_tokens":1024,"messages":[{"role":"user","content":"<hi> & \u00e9"}],"stream":true,"context_management":{"edits":[{"type":"clear_thinking_20251015"}]},"anthropic_version":"x"}`)
	var req Request
	if err := json.Unmarshal(raw, &req); err != nil {
		t.Fatal(err)
	}
	req.Raw, req.Model = raw, "claude-sonnet-4-5@20250929"
	req.Header = http.Header{"Anthropic-Beta": {"oauth-2025-04-20,context-management-2025-06-27", "interleaved-thinking-2025-05-14"}}
	up, err := v.TransformRequest(t.Context(), &req)
	if err != nil {
		t.Fatal(err)
	}
	wantURL := "https://us-east5-aiplatform.googleapis.com/v1/projects/proj-from-key/locations/us-east5/publishers/anthropic/models/claude-sonnet-4-5@20250929:streamRawPredict"
	if up.URL != wantURL || up.Auth != "none" || up.Header.Get("Authorization") != "Bearer tok-1" {
		t.Errorf("upstream = %+v", up)
	}
	wantBody := `{"anthropic_version":"vertex-2023-10-16","max_tokens":1024,"messages":[{"role":"user","content":"<hi> & \u00e9"}],"stream":true,"context_management":{"edits":[{"type":"clear_thinking_20251015"}]}}`
	if string(up.Body) != wantBody {
		t.Errorf("body\n got %s\nwant %s", up.Body, wantBody)
	}
	if got := up.Header.Get("Anthropic-Beta"); got != "context-management-2025-06-27,interleaved-thinking-2025-05-14" {
		t.Errorf("anthropic-beta = %q", got)
	}
	// Thinking blocks the router made up for another provider are dropped.
	raw2 := []byte(`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"rtr.gemini"},{"type":"text","text":"a"}]},{"role":"user","content":"q2"}]}`)
	var req2 Request
	json.Unmarshal(raw2, &req2)
	req2.Raw = raw2
	up, err = v.TransformRequest(t.Context(), &req2)
	if err != nil || bytes.Contains(up.Body, []byte("rtr.gemini")) || !bytes.Contains(up.Body, []byte(`{"type":"text","text":"a"}`)) {
		t.Errorf("router thinking not dropped: %s, %v", up.Body, err)
	}

	// Without Raw (a hook changed the request), the body is re-encoded.
	req.Raw, req.Stream = nil, false
	up, err = v.TransformRequest(t.Context(), &req)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(up.URL, ":rawPredict") || !bytes.HasPrefix(up.Body, []byte(`{"anthropic_version":"vertex-2023-10-16","max_tokens":1024,`)) ||
		bytes.Contains(up.Body, []byte(`"model"`)) || !bytes.Contains(up.Body, []byte(`"context_management"`)) {
		t.Errorf("re-encoded: %s %s", up.URL, up.Body)
	}
}

func TestVertexClaudeResponseAndStream(t *testing.T) {
	f := newFakeTokenServer(t)
	v, err := NewVertexClaude(VertexOptions{Credentials: writeCreds(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	req := &Request{Model: "claude-sonnet-4-5@20250929", ClientModel: "vc,claude-sonnet-4-5"}
	resp, err := v.TransformResponse(t.Context(), req, []byte(`{"id":"msg_vrtx_1","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":1}}`))
	if err != nil || resp.Model != "vc,claude-sonnet-4-5" || resp.ID != "msg_vrtx_1" || resp.Content[0].Text != "hi" || resp.Usage.InputTokens != 3 {
		t.Errorf("TransformResponse = %+v, %v", resp, err)
	}

	full := "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5-20250929\",\"stop_reason\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}\r\n\r\n" +
		"event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n" +
		"event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n" +
		"event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\r\n\r\n" +
		"event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n" +
		"event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":2}}\r\n\r\n" +
		"event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n"
	evs, err := convertStream(t, v, req, strings.NewReader(full))
	if err != nil || len(evs) != 7 {
		t.Fatalf("stream: %d events, %v", len(evs), err)
	}
	var ms struct {
		Message struct {
			Model string `json:"model"`
			Usage Usage  `json:"usage"`
		} `json:"message"`
	}
	json.Unmarshal(evs[0].Data, &ms)
	if ms.Message.Model != "vc,claude-sonnet-4-5" || ms.Message.Usage.InputTokens != 5 {
		t.Errorf("message_start = %s", evs[0].Data)
	}
	if evs[1].Type != "ping" || evs[6].Type != "message_stop" {
		t.Errorf("events %s … %s", evs[1].Type, evs[6].Type)
	}

	cut := full[:strings.Index(full, "event: message_delta")]
	_, err = convertStream(t, v, req, strings.NewReader(cut))
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("truncated stream: err = %v; want ErrTruncated", err)
	}
	_, err = convertStream(t, v, req, strings.NewReader(""))
	var e *Error
	if !errors.As(err, &e) || e.status() != 502 || !errors.Is(err, ErrTruncated) {
		t.Errorf("empty stream: err = %v", err)
	}
	withErr := full[:strings.Index(full, "event: content_block_stop")] + "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"
	evs, err = convertStream(t, v, req, strings.NewReader(withErr))
	if !errors.As(err, &e) || e.typ() != "overloaded_error" || e.Message != "Overloaded" || e.status() != 529 || len(evs) != 4 {
		t.Errorf("error event: %d events, err = %v", len(evs), err)
	}
}

func TestVertexClaudeTransformError(t *testing.T) {
	f := newFakeTokenServer(t)
	v, err := NewVertexClaude(VertexOptions{Credentials: writeCreds(t, f)})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		status     int
		header     http.Header
		body       string
		wantStatus int
		wantType   string
		wantMsg    string
	}{
		{400, nil, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215692 tokens > 200000 maximum"}}`, 400, "invalid_request_error", "prompt is too long: 215692 tokens > 200000 maximum"},
		{529, nil, `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, 529, "overloaded_error", "Overloaded"},
		{429, http.Header{"Retry-After": {"30"}}, `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`, 429, "rate_limit_error", "slow down"},
		{429, nil, `[{"error":{"code":429,"message":"Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model","status":"RESOURCE_EXHAUSTED"}}]`, 429, "rate_limit_error", "Quota exceeded for aiplatform.googleapis.com/online_prediction_requests_per_base_model"},
		{404, nil, `{"error":{"code":404,"message":"Publisher Model was not found","status":"NOT_FOUND"}}`, 404, "not_found_error", "Publisher Model was not found"},
		{403, nil, `{"error":{"code":403,"message":"Permission denied","status":"PERMISSION_DENIED"}}`, 403, "permission_error", "Permission denied"},
	}
	for _, tt := range tests {
		h := tt.header
		if h == nil {
			h = http.Header{}
		}
		e := v.TransformError(tt.status, h, []byte(tt.body))
		if e.status() != tt.wantStatus || e.typ() != tt.wantType || e.Message != tt.wantMsg {
			t.Errorf("TransformError(%d, %s) = %d %s %q", tt.status, tt.body, e.status(), e.typ(), e.Message)
		}
		if tt.header != nil && e.Header.Get("Retry-After") != "30" {
			t.Errorf("Retry-After not kept: %v", e.Header)
		}
	}
}

func TestVertexTransformerDefs(t *testing.T) {
	f := newFakeTokenServer(t)
	path := writeCreds(t, f)
	defs := DefaultTransformers()
	c := &Chain{Provider: "vx", BaseURL: "https://europe-west4-aiplatform.googleapis.com", Env: envMap(map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": path}), Transport: f.Client().Transport}
	if err := defs["vertex-gemini"].Apply(c, json.RawMessage(`{"location":"europe-west4","schema_mode":"jsonschema"}`)); err != nil {
		t.Fatal(err)
	}
	vg := c.Format.(*vertexGemini)
	if vg.vc.origin != "https://europe-west4-aiplatform.googleapis.com" || vg.vc.location != "europe-west4" || vg.g.opts.SchemaMode != "jsonschema" || vg.g.provider != "vx" {
		t.Errorf("vertex-gemini = %+v %+v", vg.vc, vg.g.opts)
	}
	if err := defs["vertex-claude"].Apply(c, json.RawMessage(`{"project":"pp"}`)); err != nil {
		t.Fatal(err)
	}
	vcl := c.Format.(*vertexClaude)
	if vcl.vc.project != "pp" || vcl.vc.origin != "https://us-east5-aiplatform.googleapis.com" {
		t.Errorf("vertex-claude = %+v", vcl.vc)
	}
	for _, bad := range []string{`{"schema_mode":"x"}`, `{"projekt":"x"}`} {
		if err := defs["vertex-gemini"].Apply(c, json.RawMessage(bad)); err == nil {
			t.Errorf("vertex-gemini accepted %s", bad)
		}
	}
	if err := defs["vertex-claude"].Apply(c, json.RawMessage(`{"schema_mode":"openapi"}`)); err == nil {
		t.Errorf("vertex-claude accepted a Gemini option")
	}
	c.Env = envMap(nil)
	if err := defs["vertex-claude"].Apply(c, nil); err == nil {
		t.Errorf("vertex-claude without credentials accepted")
	}
}
