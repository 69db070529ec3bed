package ccr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// AnthropicOptions configures the Anthropic passthrough format.
type AnthropicOptions struct {
	// UseBearer presents the provider key as Authorization: Bearer instead
	// of x-api-key.
	UseBearer bool `json:"UseBearer"`
}

// NewAnthropic returns the Anthropic Messages passthrough: the client's
// body goes upstream byte for byte except for the routed model (and a
// removed routing tag), with the client's anthropic-version and
// anthropic-beta headers and the provider's key; answers and streams are
// relayed without re-encoding.
func NewAnthropic(opts AnthropicOptions) Transformer { return &anthropic{opts: opts} }

type anthropic struct{ opts AnthropicOptions }

var _ Transformer = (*anthropic)(nil)

// routerSignaturePrefix marks thinking signatures made up by the router for
// other providers' reasoning; Anthropic rejects them.
const routerSignaturePrefix = "rtr."

func (a *anthropic) TransformRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	var body []byte
	var parts [][]byte
	raw := req.Raw
	// A request the Router only sketched has no messages here, and no
	// such blocks either: the sketch gives up on them.
	if raw != nil && hasRouterThinking(req) {
		raw = nil // foreign thinking blocks must be dropped: re-encode
	}
	if raw != nil {
		model, err := marshalNoEscape(req.Model)
		if err != nil {
			return nil, err
		}
		if m := req.rawModel; m.in(raw) && req.parts {
			// The Router read raw, knows where its model is, and sends
			// the pieces as they are.
			parts = [][]byte{raw[:m.start:m.start], model, raw[m.end:]}
		} else if m.in(raw) {
			body = make([]byte, 0, len(raw)-(m.end-m.start)+len(model))
			body = append(append(append(body, raw[:m.start]...), model...), raw[m.end:]...)
		} else if body, err = jsonraw.Set(raw, "model", model); err != nil {
			raw = nil
		}
	}
	if raw == nil {
		clean := dropRouterThinking(req)
		var err error
		if body, err = clean.MarshalJSON(); err != nil {
			return nil, fmt.Errorf("anthropic: encode request: %w", err)
		}
	}
	h := make(http.Header, 2)
	v := "2023-06-01"
	if req.Header != nil {
		if cv := req.Header.Get("Anthropic-Version"); cv != "" {
			v = cv
		}
		if betas := req.Header.Values("Anthropic-Beta"); len(betas) > 0 {
			h["Anthropic-Beta"] = append([]string(nil), betas...)
		}
	}
	h.Set("Anthropic-Version", v)
	auth := "x-api-key"
	if a.opts.UseBearer {
		auth = "bearer"
	}
	return &UpstreamRequest{Header: h, Body: body, Stream: req.Stream, Auth: auth, parts: parts}, nil
}

func hasRouterThinking(req *Request) bool {
	for i := range req.Messages {
		for j := range req.Messages[i].Content {
			b := &req.Messages[i].Content[j]
			if b.Type == "thinking" && strings.HasPrefix(b.Signature, routerSignaturePrefix) {
				return true
			}
		}
	}
	return false
}

// dropRouterThinking returns req without thinking blocks whose signature
// the router made up.
func dropRouterThinking(req *Request) *Request {
	if !hasRouterThinking(req) {
		return req
	}
	c := req.Clone()
	for i := range c.Messages {
		kept := c.Messages[i].Content[:0]
		for _, b := range c.Messages[i].Content {
			if b.Type == "thinking" && strings.HasPrefix(b.Signature, routerSignaturePrefix) {
				continue
			}
			kept = append(kept, b)
		}
		c.Messages[i].Content = kept
	}
	return c
}

// CountTokensRequest asks the upstream's count_tokens endpoint, next to
// its messages endpoint (api_base_url + "/count_tokens").
func (a *anthropic) CountTokensRequest(ctx context.Context, req *Request) (*UpstreamRequest, error) {
	c := dropRouterThinking(req).Clone()
	c.MaxTokens, c.Stream, c.Temperature, c.TopP, c.TopK, c.StopSequences, c.Metadata = 0, false, nil, nil, nil, nil, nil
	body, err := c.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("anthropic: encode count_tokens: %w", err)
	}
	up, err := a.TransformRequest(ctx, &Request{Model: req.Model, Header: req.Header})
	if err != nil {
		return nil, err
	}
	up.Body, up.Stream, up.Path = body, false, "/count_tokens"
	return up, nil
}

// CountTokensResponse decodes {"input_tokens": N}.
func (a *anthropic) CountTokensResponse(body []byte) (int, error) {
	var r struct {
		InputTokens *int `json:"input_tokens"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.InputTokens == nil {
		return 0, &Error{Status: http.StatusBadGateway, Message: "anthropic: invalid count_tokens response", Err: err}
	}
	return *r.InputTokens, nil
}

func (a *anthropic) TransformResponse(ctx context.Context, req *Request, body []byte) (*Response, error) {
	var resp Response
	if err := decodeResponse(body, &resp); err != nil {
		return nil, &Error{Status: http.StatusBadGateway, Message: "upstream returned malformed JSON", Err: err}
	}
	resp.Raw = body
	return &resp, nil
}

func (a *anthropic) TransformStream(ctx context.Context, req *Request, src EventReader) EventReader {
	return &anthropicStream{src: src}
}

// anthropicStream relays Anthropic events unchanged, checking only that
// the stream ends with message_stop and turning error events into errors.
type anthropicStream struct {
	src     EventReader
	started bool
	done    bool
	err     error
}

func (s *anthropicStream) ReadEvent() (Event, error) {
	if s.err != nil {
		return Event{}, s.err
	}
	for {
		ev, err := s.src.ReadEvent()
		switch {
		case err == io.EOF && !s.done:
			s.err = fmt.Errorf("anthropic: stream ended before message_stop: %w", ErrTruncated)
			return Event{}, s.err
		case err != nil:
			s.err = err
			return Event{}, err
		}
		typ := ev.Type
		if typ == "" {
			typ = eventTypeOf(ev.Data)
			ev.Type = typ
			if typ == "" {
				// Not an Anthropic event (garbage, or another format):
				// relaying it would hand the client an event it cannot
				// read.
				s.err = &Error{Status: http.StatusBadGateway, Message: "upstream sent a malformed stream event", Err: errors.New("anthropic: stream event without a type")}
				return Event{}, s.err
			}
		}
		switch typ {
		case "error":
			s.err = anthropicErrorEvent(ev.Data)
			return Event{}, s.err
		case "message_stop":
			s.done = true
		case "message_start":
			s.started = true
		}
		if s.done && typ != "message_stop" {
			continue // nothing follows message_stop
		}
		return ev, nil
	}
}

func eventTypeOf(data []byte) string {
	var t struct {
		Type string `json:"type"`
	}
	json.Unmarshal(data, &t)
	return t.Type
}

func anthropicErrorEvent(data []byte) *Error {
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	json.Unmarshal(data, &body)
	e := &Error{Type: body.Error.Type, Message: body.Error.Message, Status: statusForType(body.Error.Type)}
	if e.Message == "" {
		e.Message = "upstream stream error"
	}
	return e
}

// statusForType is the inverse of ErrorType.
func statusForType(t string) int {
	switch t {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "billing_error":
		return 402
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "timeout_error":
		return 504
	case "overloaded_error":
		return 529
	}
	return 502
}

func (a *anthropic) TransformError(status int, header http.Header, body []byte) *Error {
	var b struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	e := &Error{Status: status, Err: errors.New("anthropic: upstream status " + strconv.Itoa(status))}
	if json.Unmarshal(body, &b) == nil && b.Error.Message != "" {
		e.Type, e.Message = b.Error.Type, b.Error.Message
	} else {
		e.Message = truncateForMessage(strings.TrimSpace(string(body)), 2048)
		if e.Message == "" {
			e.Message = http.StatusText(status)
		}
	}
	if status == 529 || status == 503 {
		e.Type = "overloaded_error"
	}
	copyRetryHeaders(e, header)
	return e
}

// copyRetryHeaders passes an upstream's retry hints on to the client.
func copyRetryHeaders(e *Error, h http.Header) {
	for _, k := range []string{"Retry-After", "Retry-After-Ms", "X-Should-Retry"} {
		if v := h.Get(k); v != "" {
			if e.Header == nil {
				e.Header = make(http.Header)
			}
			e.Header.Set(k, v)
		}
	}
}

func truncateForMessage(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func anthropicTransformers() []TransformerDef {
	return []TransformerDef{{
		Name:        "Anthropic",
		Description: "Anthropic Messages API passthrough: the request and the stream are forwarded byte for byte, with the routed model and the provider's key.",
		Endpoint:    "/v1/messages",
		Options:     []OptionDef{{Name: "UseBearer", Type: "boolean", Description: "send the key as Authorization: Bearer instead of x-api-key"}},
		Apply: func(c *Chain, options json.RawMessage) error {
			var o AnthropicOptions
			if err := decodeOptions(options, &o); err != nil {
				return err
			}
			c.Format = NewAnthropic(o)
			return nil
		},
	}}
}

// passthroughUsage reads the usage of an Anthropic answer that is relayed
// as it came: the body must be one JSON object, and only its top-level
// "usage" member is decoded. ok is false for anything else (a spelling of
// "usage" that only encoding/json matches included), which the
// transformer then judges.
func passthroughUsage(b []byte) (u Usage, ok bool) {
	var dup seen
	err := document(b, func(b []byte, i int) (int, error) {
		return members(b, i, func(key []byte, vs int) (int, error) {
			switch {
			case string(key) == "usage":
				if err := dup.add(0); err != nil {
					return 0, err
				}
				return decodeUsage(b, vs, &u)
			case equalFoldASCII(key, "usage"):
				return 0, errSlow
			}
			return skip(b, vs)
		})
	})
	return u, err == nil
}
