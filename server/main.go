// Command ccr is Claude Code Router: it serves the Anthropic Messages API
// on loopback and routes each request to a configured provider.
//
// Usage:
//
//	ccr [-config PATH] [-host HOST] [-port PORT]
//
// With no config file it starts in setup mode; open http://127.0.0.1:3456/ui/
// to configure it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/ccrgo/ccr"
)

func main() {
	if err := run(context.Background(), os.Args, os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ccr:", err)
		os.Exit(1)
	}
}

// drainTimeout bounds how long a shutdown waits for in-flight streams.
const drainTimeout = 30 * time.Second

// options are the serve command's settings.
type options struct {
	configPath string
	logDir     string
	host       string
	port       int
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	home := getenv("HOME")
	fs.StringVar(&o.configPath, "config", ccr.DefaultConfigPath(home), "config file")
	o.logDir = ccr.DefaultLogDir(home)
	fs.StringVar(&o.host, "host", "", "listen address (default: HOST from the config, else 127.0.0.1)")
	fs.IntVar(&o.port, "port", 0, "listen port (default: PORT from the config, else 3456)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	return serve(ctx, o, getenv, stdout, stderr)
}

// serve runs the server until ctx ends or a signal arrives.
func serve(ctx context.Context, o options, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
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
	defer rt.Close()

	host := firstNonEmpty(o.host, getenv("HOST"), cfg.Host, "127.0.0.1")
	port := o.port
	if port == 0 {
		if p, err := strconv.Atoi(getenv("PORT")); err == nil {
			port = p
		} else if cfg.Port != 0 {
			port = cfg.Port
		} else {
			port = 3456
		}
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	if cfg.APIKey == "" && !isLoopback(host) {
		logger.Warn("listening beyond loopback WITHOUT an APIKEY: only requests addressed to a loopback name are served; set APIKEY to serve the network", "addr", addr)
	}

	admin := ccr.NewAdmin(ccr.AdminOptions{Router: rt, ConfigPath: o.configPath, LogDir: o.logDir, LogFile: logs.File,
		Getenv: getenv, Prepare: prepare, Applied: logs.Apply, Logger: logger, Listen: addr})
	mux := http.NewServeMux()
	mux.Handle("/", rt)
	mux.Handle("/api/", admin)

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
