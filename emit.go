package ccr

import (
	"crypto/rand"
	"encoding/json"
	"strconv"

	"github.com/ccrgo/ccr/internal/jsonraw"
)

// eventBuilder builds Anthropic stream events for a converter, keeping the
// invariants strict clients rely on: exactly one message_start first;
// content-block indices 0, 1, 2, ... in start order; at most one block open
// at a time; deltas only to the open block, of its type; message_delta after
// the last content_block_stop; message_stop last. Converters append events
// through its methods and drain them with take.
type eventBuilder struct {
	pending []Event
	started bool
	next    int    // index of the next block
	open    string // type of the open block: "", "text", "thinking", "tool_use"
	openIdx int
	ended   bool
}

// start emits message_start. usage holds the input tokens known so far.
func (b *eventBuilder) start(id, model string, usage Usage) {
	if b.started {
		return
	}
	b.started = true
	type msg struct {
		ID           string         `json:"id"`
		Type         string         `json:"type"`
		Role         string         `json:"role"`
		Content      []ContentBlock `json:"content"`
		Model        string         `json:"model"`
		StopReason   *string        `json:"stop_reason"`
		StopSequence *string        `json:"stop_sequence"`
		Usage        Usage          `json:"usage"`
	}
	b.emit("message_start", struct {
		Type    string `json:"type"`
		Message msg    `json:"message"`
	}{"message_start", msg{ID: id, Type: "message", Role: "assistant", Content: []ContentBlock{}, Model: model, Usage: usage}})
}

// text appends text, opening a text block if needed.
func (b *eventBuilder) text(s string) {
	if s == "" {
		return
	}
	b.ensure("text")
	b.deltaString("text_delta", "text", s)
}

// thinking appends reasoning text, opening a thinking block if needed.
func (b *eventBuilder) thinking(s string) {
	if s == "" {
		return
	}
	b.ensure("thinking")
	b.deltaString("thinking_delta", "thinking", s)
}

// signature sends a signature_delta to the open thinking block, opening
// one if none is open, and closes it.
func (b *eventBuilder) signature(sig string) {
	b.ensure("thinking")
	b.delta(struct {
		Type      string `json:"type"`
		Signature string `json:"signature"`
	}{"signature_delta", sig})
	b.closeBlock("")
}

// startTool opens a tool_use block (or server_tool_use when typ says so).
func (b *eventBuilder) startTool(typ, id, name string) {
	b.closeBlock("")
	if typ == "" {
		typ = "tool_use"
	}
	b.open, b.openIdx = "tool_use", b.next
	b.next++
	b.emit("content_block_start", struct {
		Type         string          `json:"type"`
		Index        int             `json:"index"`
		ContentBlock json.RawMessage `json:"content_block"`
	}{"content_block_start", b.openIdx, mustJSON(struct {
		Type  string   `json:"type"`
		ID    string   `json:"id"`
		Name  string   `json:"name"`
		Input struct{} `json:"input"`
	}{typ, id, name, struct{}{}})})
}

// toolInput appends a fragment of the open tool block's input JSON.
func (b *eventBuilder) toolInput(partial string) {
	if b.open != "tool_use" || partial == "" {
		return
	}
	b.deltaString("input_json_delta", "partial_json", partial)
}

// block emits a whole block that arrives complete in content_block_start,
// such as web_search_tool_result.
func (b *eventBuilder) block(cb json.RawMessage) {
	b.closeBlock("")
	idx := b.next
	b.next++
	b.emit("content_block_start", struct {
		Type         string          `json:"type"`
		Index        int             `json:"index"`
		ContentBlock json.RawMessage `json:"content_block"`
	}{"content_block_start", idx, cb})
	b.emit("content_block_stop", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}{"content_block_stop", idx})
}

// openType returns the type of the open block, "" if none.
func (b *eventBuilder) openType() string { return b.open }

// hasBlocks reports whether any content block was started.
func (b *eventBuilder) hasBlocks() bool { return b.next > 0 }

// closeBlock closes the open block. A thinking block is closed with sig
// as its signature when sig is not "".
func (b *eventBuilder) closeBlock(sig string) {
	if b.open == "" {
		return
	}
	if b.open == "thinking" && sig != "" {
		b.delta(struct {
			Type      string `json:"type"`
			Signature string `json:"signature"`
		}{"signature_delta", sig})
	}
	b.emit("content_block_stop", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
	}{"content_block_stop", b.openIdx})
	b.open = ""
}

// finish closes the open block and emits message_delta and message_stop.
// usage, when non-nil, is the final usage; nil sends only output_tokens 0.
func (b *eventBuilder) finish(stopReason string, stopSequence *string, usage *Usage, thinkingSig string) {
	if b.ended {
		return
	}
	b.closeBlock(thinkingSig)
	b.ended = true
	var u any = struct {
		OutputTokens int `json:"output_tokens"`
	}{0}
	if usage != nil {
		u = usage
	}
	b.emit("message_delta", struct {
		Type  string `json:"type"`
		Delta struct {
			StopReason   string  `json:"stop_reason"`
			StopSequence *string `json:"stop_sequence"`
		} `json:"delta"`
		Usage any `json:"usage"`
	}{Type: "message_delta", Delta: struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}{stopReason, stopSequence}, Usage: u})
	b.emit("message_stop", struct {
		Type string `json:"type"`
	}{"message_stop"})
}

// take returns the pending events and resets the queue.
func (b *eventBuilder) take() []Event {
	p := b.pending
	b.pending = nil
	return p
}

func (b *eventBuilder) ensure(typ string) {
	if b.open == typ {
		return
	}
	b.closeBlock("")
	b.open, b.openIdx = typ, b.next
	b.next++
	var cb json.RawMessage
	if typ == "text" {
		cb = json.RawMessage(`{"type":"text","text":""}`)
	} else {
		cb = json.RawMessage(`{"type":"thinking","thinking":"","signature":""}`)
	}
	b.emit("content_block_start", struct {
		Type         string          `json:"type"`
		Index        int             `json:"index"`
		ContentBlock json.RawMessage `json:"content_block"`
	}{"content_block_start", b.openIdx, cb})
}

func (b *eventBuilder) delta(d any) {
	b.emit("content_block_delta", struct {
		Type  string `json:"type"`
		Index int    `json:"index"`
		Delta any    `json:"delta"`
	}{"content_block_delta", b.openIdx, d})
}

// deltaString emits a content_block_delta whose delta is {"type":typ,
// key:s}, as delta would encode it but without reflection: it is the event
// a converted stream sends most.
func (b *eventBuilder) deltaString(typ, key, s string) {
	d := make([]byte, 0, len(s)+len(typ)+len(key)+64)
	d = append(d, `{"type":"content_block_delta","index":`...)
	d = strconv.AppendInt(d, int64(b.openIdx), 10)
	d = append(d, `,"delta":{"type":"`...)
	d = append(d, typ...)
	d = append(d, `","`...)
	d = append(d, key...)
	d = append(d, `":`...)
	d = jsonraw.AppendString(d, s)
	d = append(d, '}', '}')
	b.pending = append(b.pending, Event{Type: "content_block_delta", Data: d})
}

func (b *eventBuilder) emit(typ string, v any) {
	b.pending = append(b.pending, Event{Type: typ, Data: mustJSON(v)})
}

// mustJSON encodes values built from strings, numbers and raw JSON, which
// cannot fail to encode.
func mustJSON(v any) []byte {
	b, err := marshalNoEscape(v)
	if err != nil {
		panic("ccr: encode event: " + err.Error())
	}
	return b
}

// errorEvent returns the event: error frame for e.
func errorEvent(e *Error) Event { return Event{Type: "error", Data: e.Body()} }

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID returns prefix followed by n random alphanumerics.
func randomID(prefix string, n int) string {
	buf := make([]byte, n)
	rand.Read(buf)
	for i, c := range buf {
		buf[i] = idAlphabet[int(c)%len(idAlphabet)]
	}
	return prefix + string(buf)
}

// sanitizeID replaces characters outside [A-Za-z0-9_-] with '_'.
func sanitizeID(id string) string {
	out := []byte(nil)
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c == '_' || c == '-' || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			if out == nil {
				out = []byte(id)
			}
			out[i] = '_'
		}
	}
	if out == nil {
		return id
	}
	return string(out)
}
