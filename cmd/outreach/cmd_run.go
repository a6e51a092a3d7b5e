package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
)

func (a *app) runCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: sync with IDLE, plan, send, and the web page, until stopped",
		Long: `Run every loop in one process until SIGINT or SIGTERM:

  sync     each account's INBOX and Sent, pushed by IDLE, with safety passes
  plan     decide every due thread; propose follow-up drafts for approval
  send     send approved follow-ups in the recipient's window, exactly once
  web      the approval page at [web] listen, with /metrics (Prometheus)
           and /healthz on the same address

On a signal, work in flight finishes or rolls back: a sync batch commits
with its cursor or not at all, a follow-up already handed to the SMTP server
is recorded, and nothing is left half done. Logs are text on a terminal and
JSON otherwise (for journald and log shippers). docs/outreach.service is an
example systemd unit.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runDaemon(cmd.Context(), runOptions{Ready: a.readyHook, SendRan: a.sentHook})
		},
	}
}

// runOptions tune runDaemon; zero values are the defaults.
type runOptions struct {
	// Ready, when set, is called once every loop is up, with the web
	// page's base URL ("http://127.0.0.1:8025").
	Ready func(webURL string)
	// SendRan, when set, is called after every run of the sender.
	SendRan func()
}

// daemonLogger logs text on a terminal and JSON otherwise.
func (a *app) daemonLogger(m *daemon.Metrics) *slog.Logger {
	var h slog.Handler = slog.NewJSONHandler(a.stderr, nil)
	if isTerminal(a.stderr) {
		h = slog.NewTextHandler(a.stderr, nil)
	}
	if m != nil {
		h = m.LogHandler(h)
	}
	return slog.New(h)
}

// runDaemon runs every loop of `outreach run` for this invocation's
// configuration until ctx ends, then shuts down gracefully.
func (a *app) runDaemon(ctx context.Context, ro runOptions) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return err
	}
	if len(cfg.Accounts) == 0 {
		return outreach.Errorf(outreach.KindInvalid, "no [[accounts]] configured (%s): see examples/outreach.toml", orNone(cfg.path))
	}
	metrics := daemon.NewMetrics(nil, nil)
	log := a.daemonLogger(metrics)
	sender, err := a.sender(ctx, "", a.now, log.With("loop", "send"))
	if err != nil {
		return err
	}
	st := sender.Store
	metrics.Store = st
	planner := sender.Planner
	planner.Log = log.With("loop", "plan")
	syncer := a.syncer(st)
	syncer.Log = log.With("loop", "sync")
	sender.Syncer = syncer

	ws, err := a.webServer(st, planner, log.With("loop", "web"), map[string]http.Handler{
		"GET /metrics": http.HandlerFunc(metrics.ServeMetrics), "GET /healthz": http.HandlerFunc(metrics.ServeHealth)})
	if err != nil {
		return err
	}
	ln, err := a.listenWeb(cfg)
	if err != nil {
		return err
	}

	// New mail threaded: plan now. A follow-up sent: pass over Sent now.
	planKick := make(chan struct{}, 1)
	wake := func(ch chan struct{}) {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	sentKick := make(chan struct{}, 1)
	sender.SentKick = sentKick
	kicks := make([]chan struct{}, len(sender.Accounts))
	for i := range kicks {
		kicks[i] = make(chan struct{}, 1)
	}

	// An approval (web page or CLI, this process or another) wakes the
	// sender; a contact added wakes a pass that catches up their mail.
	notices, err := st.Listen(ctx, store.NoticeApproved, store.NoticeContacts)
	if err != nil {
		return err
	}
	approved := make(chan struct{}, 1)
	sender.Wake = approved
	if ro.SendRan != nil {
		sender.Ran = func(daemon.SendReport, error) { ro.SendRan() }
	}

	var wg sync.WaitGroup
	errs := make(chan error, len(sender.Accounts)+5)
	goLoop := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, context.Canceled) {
				log.Error("loop stopped", "loop", name, "err", err)
				errs <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	for i, sa := range sender.Accounts {
		acct := sa.Account
		goLoop("sync "+acct.Name, func() error {
			return syncer.Watch(ctx, acct, daemon.WatchOptions{SentKick: kicks[i], Passed: func(p daemon.PassSummary) {
				metrics.ObservePass(p)
				if p.Stored > 0 || p.CaughtUp > 0 {
					wake(planKick)
				}
			}})
		})
	}
	goLoop("fan-out", func() error { // one sender, a Sent pass per account
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-sentKick:
				for _, k := range kicks {
					wake(k)
				}
			}
		}
	})
	goLoop("notices", func() error {
		for n := range notices {
			switch n {
			case store.NoticeApproved:
				wake(approved)
			case store.NoticeContacts:
				for _, k := range kicks {
					wake(k)
				}
			}
		}
		return nil
	})
	goLoop("plan", func() error { return planner.Run(ctx, time.Minute, planKick, a.now) })
	goLoop("send", func() error { return sender.Run(ctx) })
	goLoop("web", func() error { return ws.Serve(ctx, ln) })

	url := "http://" + ln.Addr().String()
	log.Info("outreach running", "accounts", len(sender.Accounts), "web", url+"/", "metrics", url+"/metrics")
	if ro.Ready != nil {
		ro.Ready(url)
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	log.Info("outreach stopped")
	return errors.Join(all...)
}

// listenWeb opens [web] listen; port 0 picks a free port.
func (a *app) listenWeb(cfg *Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Web.Listen)
	if err != nil {
		return nil, outreach.Errorf(outreach.KindUnavailable, "web: listen on %s ([web] listen): %w", cfg.Web.Listen, err)
	}
	return ln, nil
}
