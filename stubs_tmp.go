package ccr

// Temporary stand-ins, replaced when normalize.go, tokens.go and
// transform_openai.go land.

// TokenCounter is replaced by tokens.go.
type TokenCounter struct{}

// NewTokenCounter is replaced by tokens.go.
func NewTokenCounter(int) *TokenCounter { return &TokenCounter{} }

// Count is replaced by tokens.go.
func (tc *TokenCounter) Count(req *Request) int {
	b, _ := req.MarshalJSON()
	return len(b) / 4
}
