// Command ccr is Claude Code Router: it serves the Anthropic Messages API
// on loopback and routes each request to a configured provider.
//
// Usage:
//
//	ccr [-config FILE] [-host HOST] [-port PORT]   serve in the foreground
//	ccr start [-d] | stop | restart | status
//	ccr code [args...]                             run Claude Code through ccr
//	ccr activate | ui | model | version | help
//
// With no config file it starts in setup mode; open http://127.0.0.1:3456/ui/
// to configure it. Run "ccr help" for the details.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/ccrgo/ccr"
	"github.com/ccrgo/ccr/internal/gctune"
)

func main() {
	err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code, err = ee.code, ee.err
	}
	if err != nil {
		msg := err.Error()
		if !strings.HasPrefix(msg, "ccr: ") {
			msg = "ccr: " + msg
		}
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(code)
}

// run is the whole program: main only supplies the process's arguments,
// environment and output, and turns the error into an exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return newCLI(getenv, os.Environ(), os.Stdin, stdout, stderr).main(ctx, args)
}

// drainTimeout bounds how long a shutdown waits for in-flight streams.
const drainTimeout = 30 * time.Second

// options are the serve command's settings.
type options struct {
	configPath string
	logDir     string
	host       string
	port       int
	// pidFile is where the PID file goes; "" means none.
	pidFile string
	// flags are the serve flags as given, recorded in the PID file so that
	// "ccr restart" starts the server the same way.
	flags []string
	// insecureNoAuth allows a non-loopback HOST without an APIKEY.
	insecureNoAuth bool
}

// serve runs the server until ctx ends or a signal arrives.
func serve(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The collector's allowance for garbage: 8 MiB (or a quarter of the
	// live heap) rather than as much again as is live, so that open
	// streams cost about what they hold (README, "Memory"). GOGC or
	// GOMEMLIMIT in the environment, which the runtime reads, turn this
	// off.
	defer gctune.Start(os.Getenv)()
	cfg, warnings, err := ccr.LoadConfig(o.configPath, getenv)
	for _, w := range warnings {
		fmt.Fprintln(stderr, "ccr: warning:", w.String())
	}
	if err != nil {
		return err
	}
	// Log files (LOG: false means stderr), LOG_LEVEL, keys redacted.
	logs := ccr.OpenServerLogs(&cfg, o.logDir, stderr)
	defer logs.Close()
	logger := logs.Logger
	prepare := func(c *ccr.Config) { logs.Prepare(c); c.Env = getenv }
	prepare(&cfg)
	rt, err := ccr.New(cfg)
	if err != nil {
		return err
	}
	rt.Preload()
	defer rt.Close()

	addr := listenAddr(o, cfg, getenv)
	if host, _, _ := net.SplitHostPort(addr); cfg.APIKey == "" && !isLoopback(host) {
		if !o.insecureNoAuth {
			return fmt.Errorf("refusing to listen on %s without an APIKEY: set APIKEY in the config (clients then send it as x-api-key or Authorization: Bearer), listen on 127.0.0.1, or pass -insecure-no-auth", addr)
		}
		logger.Warn("listening beyond loopback WITHOUT an APIKEY (-insecure-no-auth): only requests addressed to a loopback name are served", "addr", addr)
	}

	admin := ccr.NewAdmin(ccr.AdminOptions{Router: rt, ConfigPath: o.configPath, LogDir: o.logDir, LogFile: logs.File,
		Getenv: getenv, Prepare: prepare, Applied: logs.Apply, Logger: logger, Listen: addr})
	mux := http.NewServeMux()
	mux.Handle("/", rt)
	mux.Handle("/api/", admin)
	ui := uiHandler(ccr.Version)
	mux.Handle("/ui/", ui)
	mux.Handle("/ui", ui)
	mux.Handle("GET /metrics", requireAuth(rt, ccr.NewMetrics(rt)))
	token := newToken()
	mux.Handle("GET "+instancePath, instanceHandler(rt, token))

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	hard, abort := context.WithCancelCause(context.Background())
	defer abort(nil)
	srv := &http.Server{
		Addr:              addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return hard },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	if o.pidFile != "" {
		rec := pidRecord{PID: os.Getpid(), Addr: ln.Addr().String(), Token: token, Config: o.configPath, Flags: o.flags, Started: time.Now().UTC(), Version: ccr.Version}
		if err := writePIDFile(o.pidFile, rec); err != nil {
			logger.Warn("cannot write the PID file; ccr stop and ccr status will not find this server", "path", o.pidFile, "err", err)
		} else {
			defer removePIDFileOf(o.pidFile, token)
		}
	}
	fmt.Fprintf(stdout, "ccr %s listening on http://%s (config %s)\n", ccr.Version, ln.Addr(), o.configPath)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	for {
		select {
		case err := <-errc:
			return err
		case <-hup:
			warnings, err := admin.Reload()
			for _, w := range warnings {
				logger.Warn("config", "problem", w.String())
			}
			if err != nil {
				logger.Error("reload failed; keeping the running config", "err", err)
			}
			continue
		case <-ctx.Done():
		}
		break
	}
	logger.Info("shutting down", "drain", drainTimeout.String())
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), drainTimeout)
	defer cancel()
	if err := srv.Shutdown(drain); err != nil {
		abort(errors.New("ccr: shutting down"))
		srv.Close()
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// listenAddr returns the address to listen on: the -host and -port flags,
// then the HOST and PORT environment variables, then the config, then
// 127.0.0.1:3456.
func listenAddr(o options, cfg ccr.Config, getenv func(string) string) string {
	host := firstNonEmpty(o.host, getenv("HOST"), cfg.Host, "127.0.0.1")
	port := o.port
	if port == 0 {
		if p, err := strconv.Atoi(getenv("PORT")); err == nil && p > 0 && p < 65536 {
			port = p
		} else if cfg.Port != 0 {
			port = cfg.Port
		} else {
			port = 3456
		}
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}

// requireAuth serves h only to clients that pass rt's authentication.
func requireAuth(rt *ccr.Router, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := rt.Authenticate(r); err != nil {
			ccr.WriteError(w, err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
