package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/outreach/outreach/store"
)

// Metrics serves /metrics in the Prometheus text exposition format (0.0.4)
// and /healthz. What the database knows (sync lag and messages per mailbox,
// classifications, drafts and threads by state, degraded accounts) is read
// at scrape time, so several processes report the same truth; what only
// this process knows (messages it synced, warnings and errors it logged)
// is counted here.
type Metrics struct {
	Store *store.Store
	Now   func() time.Time // nil: time.Now

	mu      sync.Mutex
	synced  map[[2]string]int64 // account, mailbox -> messages stored by this process
	logged  map[string]int64    // level -> records at WARN and above
	started time.Time
}

// NewMetrics starts counting.
func NewMetrics(st *store.Store, now func() time.Time) *Metrics {
	if now == nil {
		now = time.Now
	}
	return &Metrics{Store: st, Now: now, synced: map[[2]string]int64{}, logged: map[string]int64{}, started: now()}
}

// ObservePass counts what a sync pass stored (WatchOptions.Passed).
func (m *Metrics) ObservePass(p PassSummary) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, mb := range p.Mailboxes {
		m.synced[[2]string{p.Account, mb.Name}] += int64(mb.Stored)
	}
}

// LogHandler wraps h so that every record at WARN and above is counted.
func (m *Metrics) LogHandler(h slog.Handler) slog.Handler { return &countingHandler{Handler: h, m: m} }

type countingHandler struct {
	slog.Handler
	m *Metrics
}

func (c *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		c.m.mu.Lock()
		c.m.logged[strings.ToLower(r.Level.String())]++
		c.m.mu.Unlock()
	}
	return c.Handler.Handle(ctx, r)
}

func (c *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{Handler: c.Handler.WithAttrs(as), m: c.m}
}

func (c *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{Handler: c.Handler.WithGroup(name), m: c.m}
}

// ServeMetrics writes every metric.
func (m *Metrics) ServeMetrics(w http.ResponseWriter, r *http.Request) {
	g, err := m.Store.ReadGauges(r.Context())
	if err != nil {
		http.Error(w, "outreach: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	m.write(w, g)
}

func (m *Metrics) write(w io.Writer, g store.Gauges) {
	now := m.Now()
	p := promWriter{w: w}
	p.family("outreach_sync_lag_seconds", "gauge", "Seconds since the mailbox's last complete sync pass.")
	for _, mb := range g.Mailboxes {
		if mb.LastPassAt != nil {
			p.sample("outreach_sync_lag_seconds", now.Sub(*mb.LastPassAt).Seconds(), "account", mb.Account, "mailbox", mb.Mailbox)
		}
	}
	p.family("outreach_mailbox_messages", "gauge", "Messages stored for the mailbox (not expunged).")
	for _, mb := range g.Mailboxes {
		p.sample("outreach_mailbox_messages", float64(mb.Messages), "account", mb.Account, "mailbox", mb.Mailbox)
	}
	p.family("outreach_mailbox_degraded", "gauge", "1 when the mailbox's last pass failed.")
	for _, mb := range g.Mailboxes {
		p.sample("outreach_mailbox_degraded", boolf(mb.State == "degraded"), "account", mb.Account, "mailbox", mb.Mailbox)
	}
	p.family("outreach_accounts_degraded", "gauge", "Accounts whose last sync failed.")
	p.sample("outreach_accounts_degraded", float64(g.DegradedAccounts))
	p.counts("outreach_classified_messages", "Incoming messages by classification.", "kind", g.Classifications)
	p.counts("outreach_drafts", "Follow-up drafts by state (sent ones are the sends).", "state", g.Drafts)
	p.counts("outreach_threads", "Threads by state.", "state", g.Threads)

	m.mu.Lock()
	defer m.mu.Unlock()
	p.family("outreach_messages_synced_total", "counter", "Messages this process stored from IMAP.")
	keys := make([][2]string, 0, len(m.synced))
	for k := range m.synced {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i][0]+"\x00"+keys[i][1] < keys[j][0]+"\x00"+keys[j][1] })
	for _, k := range keys {
		p.sample("outreach_messages_synced_total", float64(m.synced[k]), "account", k[0], "mailbox", k[1])
	}
	p.family("outreach_log_errors_total", "counter", "Log records at WARN or ERROR: problems this process met.")
	for _, level := range []string{"warn", "error"} {
		p.sample("outreach_log_errors_total", float64(m.logged[level]), "level", level)
	}
	p.family("outreach_uptime_seconds", "gauge", "Seconds since this process started.")
	p.sample("outreach_uptime_seconds", now.Sub(m.started).Seconds())
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// ServeHealth answers 200 when the database answers, else 503, with each
// account's sync state in a small JSON document. A degraded account is
// reported, not fatal: the daemon keeps serving the others.
func (m *Metrics) ServeHealth(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	doc := map[string]any{"status": "ok", "database": "ok"}
	code := http.StatusOK
	if err := m.Store.Ping(ctx); err != nil {
		doc["status"], doc["database"], code = "down", err.Error(), http.StatusServiceUnavailable
	} else if g, err := m.Store.ReadGauges(ctx); err == nil {
		boxes := map[string]string{}
		for _, mb := range g.Mailboxes {
			boxes[mb.Account+"/"+mb.Mailbox] = mb.State
		}
		doc["mailboxes"] = boxes
		if g.DegradedAccounts > 0 {
			doc["status"] = "degraded"
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(doc)
}

// promWriter writes the text exposition format.
type promWriter struct{ w io.Writer }

func (p promWriter) family(name, typ, help string) {
	fmt.Fprintf(p.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

func (p promWriter) sample(name string, v float64, labels ...string) {
	var b strings.Builder
	for i := 0; i+1 < len(labels); i += 2 {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%q", labels[i], escapeLabel(labels[i+1]))
	}
	if b.Len() > 0 {
		fmt.Fprintf(p.w, "%s{%s} %g\n", name, b.String(), v)
		return
	}
	fmt.Fprintf(p.w, "%s %g\n", name, v)
}

func (p promWriter) counts(name, help, label string, cs []store.Count) {
	p.family(name, "gauge", help)
	for _, c := range cs {
		p.sample(name, float64(c.N), label, c.Label)
	}
}

// escapeLabel leaves what %q would escape differently from the format:
// the format escapes only backslash, double quote and newline, and %q
// does those the same way; other control characters are dropped.
func escapeLabel(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' {
			return -1
		}
		return r
	}, s)
}
