package ccr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// VertexOptions configures the Vertex AI formats "vertex-gemini" and
// "vertex-claude". Requests are authenticated with an OAuth access token
// obtained from a Google credentials file (a service-account key, or
// gcloud's application-default user credentials) and refreshed before it
// expires.
type VertexOptions struct {
	// Project is the Google Cloud project. If empty, Env
	// ("GOOGLE_CLOUD_PROJECT") is used, then the credentials' project_id.
	Project string
	// Location is the Vertex AI region, such as "us-central1", or
	// "global". If empty, Env("GOOGLE_CLOUD_LOCATION") is used, then
	// "us-central1" for Gemini and "us-east5" for Claude.
	Location string

	// Credentials is the path of the credentials JSON file. If empty,
	// Env("GOOGLE_APPLICATION_CREDENTIALS") is used, then gcloud's
	// $HOME/.config/gcloud/application_default_credentials.json.
	Credentials string
	// CredentialsJSON holds the credentials themselves and takes
	// precedence over Credentials.
	CredentialsJSON []byte

	// Env looks up environment variables; nil means none are set. Library
	// code never reads the process environment itself.
	Env func(string) string
	// Transport carries token requests; nil means a private clone of
	// [http.DefaultTransport].
	Transport http.RoundTripper

	// BaseURL replaces the Vertex AI endpoint: its scheme and host are
	// used, the API path is appended. Empty means
	// https://<location>-aiplatform.googleapis.com (or
	// https://aiplatform.googleapis.com for "global").
	BaseURL string
	// TokenURL replaces the credentials' token_uri.
	TokenURL string

	// Gemini configures the request body of "vertex-gemini".
	Gemini GeminiOptions
}

// vertexConfig is what both Vertex formats resolve from VertexOptions.
type vertexConfig struct {
	ts       *gcpTokenSource
	project  string
	location string
	origin   string // scheme://host, no trailing slash
	quota    string // x-goog-user-project for user credentials
}

func resolveVertex(opts VertexOptions, defaultLocation string) (*vertexConfig, error) {
	env := opts.Env
	if env == nil {
		env = func(string) string { return "" }
	}
	data := opts.CredentialsJSON
	if len(data) == 0 {
		path := opts.Credentials
		if path == "" {
			path = env("GOOGLE_APPLICATION_CREDENTIALS")
		}
		if path == "" {
			if home := env("HOME"); home != "" {
				p := filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
				if _, err := os.Stat(p); err == nil {
					path = p
				}
			}
		}
		if path == "" {
			return nil, errors.New("vertex: no credentials: set the credentials option or GOOGLE_APPLICATION_CREDENTIALS")
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("vertex: read credentials: %w", err)
		}
		data = b
	}
	ts, err := newGCPTokenSource(data, opts.TokenURL, opts.Transport)
	if err != nil {
		return nil, err
	}
	vc := &vertexConfig{ts: ts, project: opts.Project, location: opts.Location}
	if vc.project == "" {
		vc.project = env("GOOGLE_CLOUD_PROJECT")
	}
	if vc.project == "" {
		vc.project = ts.creds.ProjectID
	}
	if vc.project == "" {
		vc.project = ts.creds.QuotaProjectID
	}
	if vc.project == "" {
		return nil, errors.New("vertex: no project: set the project option or GOOGLE_CLOUD_PROJECT")
	}
	if ts.creds.Type == "authorized_user" {
		vc.quota = ts.creds.QuotaProjectID
	}
	if vc.location == "" {
		vc.location = env("GOOGLE_CLOUD_LOCATION")
	}
	if vc.location == "" {
		vc.location = defaultLocation
	}
	if strings.ContainsAny(vc.project+vc.location, "/?#% ") {
		return nil, errors.New("vertex: project and location must be plain names")
	}
	if opts.BaseURL != "" {
		u, err := url.Parse(opts.BaseURL)
		if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
			return nil, fmt.Errorf("vertex: bad base URL %q", opts.BaseURL)
		}
		vc.origin = u.Scheme + "://" + u.Host
	} else if vc.location == "global" {
		vc.origin = "https://aiplatform.googleapis.com"
	} else {
		vc.origin = "https://" + vc.location + "-aiplatform.googleapis.com"
	}
	return vc, nil
}

// modelURL returns the URL of a publisher model's method.
func (vc *vertexConfig) modelURL(version, publisher, model, method string) string {
	return vc.origin + "/" + version + "/projects/" + vc.project + "/locations/" + vc.location +
		"/publishers/" + publisher + "/models/" + geminiEscapeModel(model) + ":" + method
}

// authorize adds the access token to up.
func (vc *vertexConfig) authorize(ctx context.Context, up *UpstreamRequest) error {
	tok, err := vc.ts.Token(ctx)
	if err != nil {
		return err
	}
	if up.Header == nil {
		up.Header = http.Header{}
	}
	up.Header.Set("Authorization", "Bearer "+tok)
	if vc.quota != "" {
		up.Header.Set("X-Goog-User-Project", vc.quota)
	}
	up.Auth = "none"
	return nil
}

// ---- vertex-gemini ----

type vertexGemini struct {
	g  *gemini
	vc *vertexConfig
}

var _ Transformer = (*vertexGemini)(nil)

// NewVertexGemini returns the Gemini format on Vertex AI
// (projects/{p}/locations/{l}/publishers/google/models/{m}:generateContent
// and :streamGenerateContent?alt=sse). It reads the credentials once; the
// access token is fetched on first use and refreshed before expiry. The
// Transformer sets UpstreamRequest.URL and its own Authorization header.
// It is safe for concurrent use.
func NewVertexGemini(opts VertexOptions) (Transformer, error) { return newVertexGemini(opts, "") }

func newVertexGemini(opts VertexOptions, provider string) (*vertexGemini, error) {
	vc, err := resolveVertex(opts, "us-central1")
	if err != nil {
		return nil, err
	}
	return &vertexGemini{g: newGemini(opts.Gemini, provider), vc: vc}, nil
}

// TransformRequest encodes req as on the Gemini API and authenticates it.
func (v *vertexGemini) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	body, err := v.g.encodeRequest(ctx, req)
	if err != nil {
		return nil, err
	}
	up := &UpstreamRequest{
		URL:    v.vc.modelURL("v1beta1", "google", req.Model, "generateContent"),
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
		Stream: req.Stream,
	}
	if req.Stream {
		up.URL = v.vc.modelURL("v1beta1", "google", req.Model, "streamGenerateContent") + "?alt=sse"
	}
	if err := v.vc.authorize(ctx, up); err != nil {
		return nil, err
	}
	return up, nil
}

// TransformResponse decodes a generateContent response.
func (v *vertexGemini) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	return v.g.TransformResponse(ctx, req, body)
}

// TransformStream converts a streamGenerateContent?alt=sse stream.
func (v *vertexGemini) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	return v.g.TransformStream(ctx, req, src)
}

// TransformError maps a Vertex AI error; a 401 also drops the cached token.
func (v *vertexGemini) TransformError(status int, header http.Header, body []byte) *Error {
	if status == http.StatusUnauthorized {
		v.vc.ts.invalidate()
	}
	return geminiError(status, header, body, v.g.provider)
}

// ---- vertex-claude ----

// vertexAnthropicVersion is the anthropic_version Claude on Vertex AI
// requires in the body.
const vertexAnthropicVersion = "vertex-2023-10-16"

type vertexClaude struct {
	vc       *vertexConfig
	provider string
}

var _ Transformer = (*vertexClaude)(nil)

// NewVertexClaude returns the format of Claude on Vertex AI
// (publishers/anthropic/models/{m}:rawPredict and :streamRawPredict): the
// Anthropic Messages body without "model", with anthropic_version
// "vertex-2023-10-16", authenticated like [NewVertexGemini]. The client's
// anthropic-beta header is forwarded. It is safe for concurrent use.
func NewVertexClaude(opts VertexOptions) (Transformer, error) { return newVertexClaude(opts, "") }

func newVertexClaude(opts VertexOptions, provider string) (*vertexClaude, error) {
	vc, err := resolveVertex(opts, "us-east5")
	if err != nil {
		return nil, err
	}
	return &vertexClaude{vc: vc, provider: provider}, nil
}

// TransformRequest forwards the client's body (byte for byte when the
// router kept it) with model removed and anthropic_version added.
func (v *vertexClaude) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	src := req.Raw
	if src != nil && hasRouterThinking(req) {
		src = nil // thinking blocks made up by the router must not reach Claude
	}
	if src == nil {
		b, err := dropRouterThinking(req).MarshalJSON()
		if err != nil {
			return nil, fmt.Errorf("vertex: encode request: %w", err)
		}
		src = b
	}
	body, err := vertexClaudeBody(src)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Type: "invalid_request_error", Message: "request body is not a JSON object", Err: err}
	}
	method := "rawPredict"
	if req.Stream {
		method = "streamRawPredict"
	}
	up := &UpstreamRequest{
		URL:    v.vc.modelURL("v1", "anthropic", req.Model, method),
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   body,
		Stream: req.Stream,
	}
	if betas := vertexBetas(req.Header); betas != "" {
		up.Header.Set("Anthropic-Beta", betas)
	}
	if err := v.vc.authorize(ctx, up); err != nil {
		return nil, err
	}
	return up, nil
}

// vertexBetas returns the client's anthropic-beta values, without the
// OAuth beta that only Anthropic's own API knows.
func vertexBetas(h http.Header) string {
	var out []string
	for _, v := range h.Values("Anthropic-Beta") {
		for _, b := range strings.Split(v, ",") {
			b = strings.TrimSpace(b)
			if b != "" && !strings.HasPrefix(b, "oauth-") {
				out = append(out, b)
			}
		}
	}
	return strings.Join(out, ",")
}

// vertexClaudeBody rewrites the top level of an Anthropic request body:
// anthropic_version first, model removed, every other member unchanged.
func vertexClaudeBody(src []byte) ([]byte, error) {
	members, err := jsonraw.Members(src)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(src)+40)
	out = append(out, `{"anthropic_version":"`+vertexAnthropicVersion+`"`...)
	for _, m := range members {
		if m.Key == "model" || m.Key == "anthropic_version" {
			continue
		}
		kb, _ := marshalNoEscape(m.Key)
		out = append(out, ',')
		out = append(out, kb...)
		out = append(out, ':')
		out = append(out, src[m.Start:m.End]...)
	}
	return append(out, '}'), nil
}

// TransformResponse decodes the Anthropic response and echoes the client's
// model.
func (v *vertexClaude) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "vertex: invalid response body", Err: err}
	}
	if r.Type == "error" {
		return nil, vertexClaudeError(http.StatusBadGateway, nil, body, v.provider)
	}
	r.Model = clientModel(req)
	if r.Content == nil {
		r.Content = []ContentBlock{}
	}
	return &r, nil
}

// TransformStream passes Anthropic events through, echoing the client's
// model in message_start. A stream that ends before message_stop is an
// error wrapping [ErrTruncated]; an error event becomes an *Error.
func (v *vertexClaude) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	return &vertexClaudeStream{src: src, model: clientModel(req), provider: v.provider}
}

type vertexClaudeStream struct {
	src      EventReader
	model    string
	provider string
	started  bool
	err      error
}

// ReadEvent returns the next event.
func (s *vertexClaudeStream) ReadEvent() (Event, error) {
	for s.err == nil {
		ev, err := s.src.ReadEvent()
		if err == io.EOF {
			if !s.started {
				s.err = &Error{Status: http.StatusBadGateway, Type: "api_error", Message: "upstream returned an empty stream",
					Err: fmt.Errorf("vertex: no event before EOF: %w", ErrTruncated)}
			} else {
				s.err = fmt.Errorf("vertex: stream ended before message_stop: %w", ErrTruncated)
			}
			break
		}
		if err != nil {
			s.err = err
			break
		}
		typ := ev.Type
		if typ == "" {
			var t struct {
				Type string `json:"type"`
			}
			if json.Unmarshal(ev.Data, &t) != nil {
				continue
			}
			typ = t.Type
			ev.Type = typ
		}
		switch typ {
		case "error":
			s.err = vertexClaudeError(http.StatusBadGateway, nil, ev.Data, s.provider)
			return Event{}, s.err
		case "message_start":
			s.started = true
			ev.Data = vertexSetModel(ev.Data, s.model)
		case "message_stop":
			s.err = io.EOF
		case "":
			continue
		default:
			s.started = true
		}
		return ev, nil
	}
	return Event{}, s.err
}

// vertexSetModel replaces message.model in a message_start event.
func vertexSetModel(data []byte, model string) []byte {
	var outer map[string]json.RawMessage
	if json.Unmarshal(data, &outer) != nil {
		return data
	}
	var msg map[string]json.RawMessage
	if json.Unmarshal(outer["message"], &msg) != nil || msg == nil {
		return data
	}
	msg["model"] = mustJSON(model)
	m, err := marshalNoEscape(msg)
	if err != nil {
		return data
	}
	outer["message"] = m
	b, err := marshalNoEscape(outer)
	if err != nil {
		return data
	}
	return b
}

// TransformError maps an error from Claude on Vertex AI: Anthropic's error
// shape keeps its type, Google's is mapped as for Gemini. A 401 also drops
// the cached token.
func (v *vertexClaude) TransformError(status int, header http.Header, body []byte) *Error {
	if status == http.StatusUnauthorized {
		v.vc.ts.invalidate()
	}
	return vertexClaudeError(status, header, body, v.provider)
}

func vertexClaudeError(status int, header http.Header, body []byte, provider string) *Error {
	var ae struct {
		Type  string `json:"type"`
		Error *struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &ae) != nil || ae.Type != "error" || ae.Error == nil || ae.Error.Type == "" {
		if header == nil {
			header = http.Header{}
		}
		return geminiError(status, header, body, provider)
	}
	e := &Error{Status: statusForType(ae.Error.Type), Type: ae.Error.Type, Message: ae.Error.Message,
		Err: fmt.Errorf("vertex: upstream status %d", status)}
	copyRetryHeaders(e, header)
	return e
}

// vertexConfigOptions is the options object of the vertex transformers.
type vertexConfigOptions struct {
	Project     string `json:"project"`
	Location    string `json:"location"`
	Credentials string `json:"credentials"`
}

func (o vertexConfigOptions) options(c *Chain) VertexOptions {
	return VertexOptions{
		Project:     o.Project,
		Location:    o.Location,
		Credentials: o.Credentials,
		Env:         c.Env,
		Transport:   c.Transport,
	}
}
