package ccr

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
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

// TestBodyConn checks that upstream connections send request bodies
// whole and without allocating a copy buffer per body: those made by
// newRequest straight from their bytes, any other through a pooled buffer.
func TestBodyConn(t *testing.T) {
	t.Parallel()
	body := bytes.Repeat([]byte("0123456789abcdef"), 5000) // 80 KB: more than one copy buffer
	t.Run("through the transport", func(t *testing.T) {
		t.Parallel()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			sum := sha256.Sum256(b)
			fmt.Fprintf(w, "%d %x", len(b), sum)
		}))
		t.Cleanup(srv.Close)
		var ts transports
		tr, err := ts.get("")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(tr.CloseIdleConnections)
		p := &provider{name: "p", baseURL: srv.URL}
		sum := sha256.Sum256(body)
		want := fmt.Sprintf("%d %x", len(body), sum)
		for _, tc := range []struct {
			name string
			req  func() *http.Request
		}{
			{"newRequest", func() *http.Request {
				r, err := p.newRequest(t.Context(), &UpstreamRequest{Body: body}, -1)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}},
			{"newRequest in parts", func() *http.Request {
				// The first part ends inside the transport's write buffer,
				// an empty part on the way.
				parts := [][]byte{body[:700], body[700:50000], nil, body[50000:]}
				r, err := p.newRequest(t.Context(), &UpstreamRequest{parts: parts}, -1)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}},
			{"other body", func() *http.Request {
				r, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, bytes.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				return r
			}},
		} {
			for range 3 { // a new connection, then reused ones
				resp, err := tr.RoundTrip(tc.req())
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != want {
					t.Fatalf("%s: upstream received %s; want %s", tc.name, got, want)
				}
			}
		}
	})
}

// TestBodyConnAllocations checks that a body costs its connection no copy
// buffer. It does not run in parallel: it counts the bytes the process
// allocates.
func TestBodyConnAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes pools drop buffers")
	}
	body := bytes.Repeat([]byte("0123456789abcdef"), 5000)
	var bufs sync.Pool
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	c := &bodyConn{Conn: a, bufs: &bufs}
	go io.Copy(io.Discard, b)
	p := &provider{name: "p", baseURL: "http://127.0.0.1:1"}
	up := &UpstreamRequest{Body: body}
	for _, tc := range []struct {
		name string
		src  func() io.Reader
	}{
		{"newRequest", func() io.Reader {
			r, err := p.newRequest(t.Context(), up, -1)
			if err != nil {
				t.Fatal(err)
			}
			return &io.LimitedReader{R: r.Body, N: r.ContentLength}
		}},
		{"other body", func() io.Reader { return &io.LimitedReader{R: bytes.NewReader(body), N: int64(len(body))} }},
	} {
		send := func() {
			n, err := c.ReadFrom(tc.src())
			if err != nil || n != int64(len(body)) {
				t.Fatalf("%s: ReadFrom = %d, %v; want %d, nil", tc.name, n, err, len(body))
			}
		}
		send() // the pool's buffer, io.Discard's
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		const n = 20
		for range n {
			send()
		}
		runtime.ReadMemStats(&m1)
		// newRequest allocates a request of a few hundred bytes; a copy
		// buffer would add 32 KB.
		if per := (m1.TotalAlloc - m0.TotalAlloc) / n; per > 4<<10 {
			t.Errorf("%s: %d bytes allocated per body; want under 4 KB", tc.name, per)
		}
	}
}
