package ccr

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"testing/iotest"
	"time"
)

func TestUpstreamRequestBodyReleased(t *testing.T) {
	t.Parallel()
	p := &provider{name: "p", baseURL: "http://127.0.0.1:1/v1"}
	body := []byte(`{"model":"m"}`)
	holder := func(r *http.Request) *upstreamRequestBody { return r.Body.(*upstreamRequestReader).u }

	t.Run("released after the transport closed it", func(t *testing.T) {
		t.Parallel()
		r, err := p.newRequest(t.Context(), &UpstreamRequest{Body: body}, -1)
		if err != nil {
			t.Fatal(err)
		}
		if r.ContentLength != int64(len(body)) {
			t.Errorf("ContentLength = %d; want %d", r.ContentLength, len(body))
		}
		again, _ := r.GetBody()
		b1, _ := io.ReadAll(r.Body)
		b2, _ := io.ReadAll(again)
		if string(b1) != string(body) || string(b2) != string(body) {
			t.Fatalf("Body read %q, GetBody %q; want %q", b1, b2, body)
		}
		releaseRequestBody(r)
		if holder(r).parts == nil {
			t.Fatal("bytes dropped while readers are open")
		}
		r.Body.Close()
		again.Close()
		if holder(r).parts != nil {
			t.Fatal("bytes kept after release and close")
		}
	})
	t.Run("in parts", func(t *testing.T) {
		t.Parallel()
		up := &UpstreamRequest{parts: [][]byte{body[:9], {}, body[9:12], body[12:]}}
		r, err := p.newRequest(t.Context(), up, -1)
		if err != nil {
			t.Fatal(err)
		}
		if r.ContentLength != int64(len(body)) {
			t.Errorf("ContentLength = %d; want %d", r.ContentLength, len(body))
		}
		if err := iotest.TestReader(r.Body, body); err != nil {
			t.Error(err)
		}
		again, _ := r.GetBody()
		if err := iotest.TestReader(again, body); err != nil {
			t.Error(err)
		}
	})
	t.Run("round trip", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		}))
		t.Cleanup(srv.Close)
		p := &provider{name: "p", baseURL: srv.URL}
		r, err := p.newRequest(t.Context(), &UpstreamRequest{Body: body}, -1)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		releaseRequestBody(r)
		echo, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(echo) != string(body) {
			t.Errorf("upstream got %q; want %q", echo, body)
		}
		// The transport closes the body from its own goroutine once it
		// has written it, maybe a moment after the answer arrived.
		h := holder(r)
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
			h.mu.Lock()
			dropped := h.parts == nil
			h.mu.Unlock()
			if dropped {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("bytes kept after the answer arrived")
			}
		}
	})
}
