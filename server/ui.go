package main

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"time"
)

// uiFiles holds the web management UI: index.html plus the CSS and the
// JavaScript modules it loads. Nothing in it is fetched from elsewhere.
//
//go:embed ui
var uiFiles embed.FS

// uiAssetTypes maps the extensions used under ui/ to their Content-Type.
// It is fixed here rather than read from the system's MIME tables so that
// a module script is never served with a type the browser refuses.
var uiAssetTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".json": "application/json",
	".png":  "image/png",
	".svg":  "image/svg+xml",
}

// uiCSP allows only same-origin scripts, styles, images and API calls, so
// the UI cannot load anything from the internet even by mistake.
const uiCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// uiAsset is one embedded file, ready to serve.
type uiAsset struct {
	body  []byte
	ctype string
}

// uiHandler returns the handler for the web UI, meant to be mounted at both
// "/ui/" and "/ui".
//
//   - /ui redirects to /ui/.
//   - /ui/ (and /ui/index.html) serves index.html with Cache-Control:
//     no-cache and an ETag, so a new binary's UI is picked up at once.
//   - The other files live under /ui/<hash>/, where hash is derived from
//     every file's content and version; they are served with a one-year
//     immutable Cache-Control. index.html refers to them through the
//     "{{assets}}" placeholder, replaced here with "<hash>/".
//
// version is shown in the page. The handler is safe for concurrent use.
func uiHandler(version string) http.Handler {
	root, err := fs.Sub(uiFiles, "ui")
	if err != nil {
		panic("ui: " + err.Error()) // embedded at build time; cannot happen
	}
	assets := make(map[string]uiAsset)
	var index []byte
	h := sha256.New()
	h.Write([]byte(version))
	var names []string
	err = fs.WalkDir(root, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		names = append(names, p)
		return nil
	})
	if err != nil {
		panic("ui: " + err.Error())
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(root, name)
		if err != nil {
			panic("ui: " + err.Error())
		}
		h.Write([]byte(name))
		h.Write([]byte{0})
		h.Write(body)
		h.Write([]byte{0})
		if name == "index.html" {
			index = body
			continue
		}
		ctype, ok := uiAssetTypes[path.Ext(name)]
		if !ok {
			ctype = "application/octet-stream"
		}
		assets[name] = uiAsset{body: body, ctype: ctype}
	}
	hash := hex.EncodeToString(h.Sum(nil))[:16]
	index = bytes.ReplaceAll(index, []byte("{{assets}}"), []byte(hash+"/"))
	index = bytes.ReplaceAll(index, []byte("{{version}}"), []byte(html.EscapeString(version)))
	etag := `"` + hash + `"`
	prefix := "/ui/" + hash + "/"

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		if p == "/ui" {
			target := "/ui/"
			if r.URL.RawQuery != "" {
				target += "?" + r.URL.RawQuery
			}
			http.Redirect(w, r, target, http.StatusFound)
			return
		}
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		switch {
		case p == "/ui/" || p == "/ui/index.html":
			hdr.Set("Content-Type", "text/html; charset=utf-8")
			hdr.Set("Cache-Control", "no-cache")
			hdr.Set("ETag", etag)
			hdr.Set("Content-Security-Policy", uiCSP)
			hdr.Set("X-Frame-Options", "DENY")
			http.ServeContent(w, r, "index.html", time.Time{}, bytes.NewReader(index))
		case strings.HasPrefix(p, prefix):
			a, ok := assets[strings.TrimPrefix(p, prefix)]
			if !ok {
				http.NotFound(w, r)
				return
			}
			hdr.Set("Content-Type", a.ctype)
			hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
			http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
		default:
			// Includes asset paths under an old hash: serving today's file
			// under yesterday's immutable URL would mix versions.
			http.NotFound(w, r)
		}
	})
}
