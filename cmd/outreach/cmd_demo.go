package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/internal/demo"
	"github.com/outreach/outreach/web"
)

// demoFlags are the flags of `outreach demo`.
type demoFlags struct {
	listen, now, state string
}

func (a *app) demoCommand() *cobra.Command {
	var f demoFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try outreach on a seeded mailbox: nothing of yours is read or changed",
		Long: `Run the whole daemon (sync, planner, sender, web page) on a world of its own:
an applicant who wrote to a dozen faculty over the past weeks, with replies,
an out-of-office, a bounce, a coordinator answering for a professor, silences
due for a follow-up and a conversation already closed. The mailbox is an IMAP
server in memory, sent mail is caught by an SMTP server that delivers nothing,
and the database is a private PostgreSQL in a temporary directory (or, when
DATABASE_URL is set, a fresh database on that server, dropped on exit).

It prints the web page's address and password, and each thread's state once
the first planning pass is done, then every change. "outreach demo reply"
makes a faculty member answer while it runs. Ctrl-C stops everything and
removes what the demo made. Your configuration is not read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return a.runDemo(cmd.Context(), f) },
	}
	cmd.Flags().StringVar(&f.listen, "listen", "", "HOST:PORT of the web page (default 127.0.0.1:8025, or a free port when that is taken)")
	cmd.Flags().StringVar(&f.now, "now", "", "run the demo's clock from this instant (RFC 3339), e.g. 2025-06-10T14:30:00Z")
	cmd.Flags().StringVar(&f.state, "state", "", "the file announcing the running demo to \"demo reply\" (default $XDG_RUNTIME_DIR/outreach-demo.json)")
	cmd.AddCommand(a.demoReplyCommand())
	return cmd
}

// runDemo builds the demo's world, runs the daemon on it until ctx ends,
// and takes the world down again.
func (a *app) runDemo(ctx context.Context, f demoFlags) (err error) {
	clock, err := demoClock(f.now)
	if err != nil {
		return err
	}
	stateFlag := "" // repeated in the hint for "demo reply" when not the default
	if f.state == "" {
		f.state = demo.DefaultStatePath(a.getenv)
	} else {
		stateFlag = " --state " + f.state
	}
	out := &lockedWriter{w: a.stdout}
	d, err := demo.Start(ctx, demo.Options{Now: clock, ServerURL: a.demoServerURL(), WebListen: demoListen(f.listen),
		StatePath: f.state, OnCatch: func(c demo.Caught) { printCaught(out, clock(), c) }})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, d.Close()) }() // on every way out; a second Close does nothing
	// From here on, this invocation is the demo's: its configuration, its
	// clock, and no database from the environment.
	a.configFlag, a.cfg, a.now, a.getenv = d.ConfigPath, nil, clock, withoutDatabaseEnv(a.getenv)
	printDemoIntro(out, d)
	watchCtx, stopWatch := context.WithCancel(ctx)
	var watching sync.WaitGroup
	err = a.runDaemon(ctx, runOptions{Ready: func(webURL string) {
		fmt.Fprintf(out, "  web page  %s/   (log in with the password %s)\n", webURL, d.WebPassword)
		watching.Go(func() { watchDemo(watchCtx, out, d, clock, stateFlag) })
	}})
	stopWatch()
	watching.Wait()
	closed := d.Close()
	if closed == nil {
		fmt.Fprintln(out, "demo stopped; its servers, database and files are gone")
	}
	return errors.Join(err, closed)
}

// withoutDatabaseEnv hides the database variables, which would override
// the demo configuration's database_url.
func withoutDatabaseEnv(getenv func(string) string) func(string) string {
	return func(k string) string {
		if k == "OUTREACH_DATABASE_URL" || k == "DATABASE_URL" {
			return ""
		}
		return getenv(k)
	}
}

// demoClock is the real clock, or one that starts at --now and runs.
func demoClock(now string) (func() time.Time, error) {
	if now == "" {
		return time.Now, nil
	}
	start, err := time.Parse(time.RFC3339, now)
	if err != nil {
		return nil, usageError{fmt.Errorf("--now: %w", err)}
	}
	began := time.Now()
	return func() time.Time { return start.Add(time.Since(began)) }, nil
}

// demoServerURL is the PostgreSQL server to create the demo's database
// on: OUTREACH_DATABASE_URL or DATABASE_URL; "" runs a private one.
func (a *app) demoServerURL() string {
	if u := a.getenv("OUTREACH_DATABASE_URL"); u != "" {
		return u
	}
	return a.getenv("DATABASE_URL")
}

// demoListen is --listen, else the usual address of the page when it is
// free (an `outreach run` may hold it), else a free port.
func demoListen(flag string) string {
	if flag != "" {
		return flag
	}
	ln, err := net.Listen("tcp", web.DefaultListen)
	if err != nil {
		return "127.0.0.1:0"
	}
	ln.Close()
	return web.DefaultListen
}

func printDemoIntro(w io.Writer, d *demo.Demo) {
	fmt.Fprintf(w, `Outreach demo: %s, a medical graduate from %s applying in urology, wrote to
%d faculty over the past weeks. The mailbox, the mail servers and the database
are the demo's own; Ctrl-C removes them all.

  IMAP      %s   (%s, password %s, no TLS: loopback only)
  SMTP      %s   (catches what is sent; nothing leaves this machine)
  database  %s
  config    %s
`, demo.Applicant.Name, demo.Applicant.Country, len(d.Story.Faculty), d.IMAPAddr, demo.Applicant.Email,
		demo.Password, d.SMTPAddr, d.DatabaseWhere(), d.ConfigPath)
}

// watchDemo prints each thread once the first planning pass has settled
// them, then every change, until ctx ends.
func watchDemo(ctx context.Context, w io.Writer, d *demo.Demo, clock func() time.Time, stateFlag string) {
	first, cancel := context.WithTimeout(ctx, 45*time.Second)
	ts, err := d.WaitSettled(first, 200*time.Millisecond)
	cancel()
	if ctx.Err() != nil {
		return
	}
	printDemoSummary(w, ts, clock(), stateFlag)
	if err != nil {
		fmt.Fprintf(w, "\nNot every thread is where the story says yet: %v\n", err)
	}
	seen := snapshot(ts)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts, err := d.Threads(ctx)
		if err != nil {
			continue // shutting down, or a transient error: the next tick tells
		}
		for _, t := range ts {
			if now := describeThread(t); now != seen[t.Email] {
				fmt.Fprintf(w, "%s  %-18s %s\n", clock().Format("15:04:05"), t.Name, now)
				seen[t.Email] = now
			}
		}
	}
}

func snapshot(ts []demo.Thread) map[string]string {
	m := map[string]string{}
	for _, t := range ts {
		m[t.Email] = describeThread(t)
	}
	return m
}

// printDemoSummary lists each thread, then how to make someone answer.
func printDemoSummary(w io.Writer, ts []demo.Thread, now time.Time, stateFlag string) {
	fmt.Fprintf(w, "\nAfter the first planning pass (%s):\n", now.Format("Mon 2 Jan 2006 15:04 MST"))
	due := ""
	for _, t := range ts {
		fmt.Fprintf(w, "  %-18s %-42s %s\n", t.Name, describeThread(t), t.Scenario)
		if !t.AsExpected() {
			fmt.Fprintf(w, "  %-18s (the story expects %s)\n", "", t.Expect)
		}
		if due == "" && t.State == outreach.ThreadDraftProposed {
			due = t.Email
		}
	}
	if due == "" {
		due = ts[0].Email
	}
	fmt.Fprintf(w, `
A follow-up goes out only once you approve it on the page, and only in the
recipient's send window (Mon-Fri 08:00-17:00 in their time zone); the demo's
SMTP server catches it. To make a faculty member answer, from another terminal:

  %s demo reply --from %s%s

(--text "..." for your own words; --kind ooo or --kind bounce for the other
kinds.) The thread changes here and on the page within seconds. Ctrl-C stops.

`, selfCommand(), due, stateFlag)
}

// describeThread is a thread's state and what it waits for, in a few words.
func describeThread(t demo.Thread) string {
	if t.State == "" {
		return "not seen yet"
	}
	if !t.Decided {
		return string(t.State) + ", not planned yet"
	}
	s := string(t.State)
	switch {
	case t.State == outreach.ThreadPaused && t.PausedUntil != nil:
		s += " until " + t.PausedUntil.Format("Mon 2 Jan")
	case t.State == outreach.ThreadAwaitingReply && t.NextActionAt != nil:
		s += ": follow-up due " + t.NextActionAt.Format("Mon 2 Jan")
	case t.State == outreach.ThreadFollowUpDue && t.NextActionAt != nil:
		s += ": draft at " + t.NextActionAt.Format("Mon 15:04 MST") + " (send window)"
	}
	switch d := t.Draft; {
	case d == nil:
	case d.State == outreach.DraftProposed:
		s += fmt.Sprintf(": draft #%d waits", d.ID)
	case d.State == outreach.DraftSuperseded:
		s += fmt.Sprintf(" (draft #%d withdrawn)", d.ID)
	default:
		s += fmt.Sprintf(": draft #%d %s", d.ID, d.State)
	}
	return s
}

// printCaught reports a message the demo's SMTP server took.
func printCaught(w io.Writer, now time.Time, c demo.Caught) {
	subject := ""
	if m, err := mail.ReadMessage(bytes.NewReader(c.Data)); err == nil {
		subject = m.Header.Get("Subject")
	}
	fmt.Fprintf(w, "%s  sent to %s: %q (caught by the demo's SMTP server)\n", now.Format("15:04:05"),
		strings.Join(c.To, ", "), subject)
}

// selfCommand is how the user ran this binary: "go run ./cmd/outreach"
// from a clone, else "outreach".
func selfCommand() string {
	if strings.Contains(os.Args[0], "go-build") {
		return "go run ./cmd/outreach"
	}
	return "outreach"
}

func (a *app) demoReplyCommand() *cobra.Command {
	var in demo.Injection
	var state string
	cmd := &cobra.Command{
		Use:   "reply --from EMAIL [--text TEXT] [--kind reply|ooo|bounce]",
		Short: "Make a faculty member answer in the running demo",
		Long: `Deliver a message to the running demo's INBOX, as a mail server would, in the
conversation with the faculty member at --from (or another address at their
institution, answering for them): a reply from a person (the default), an
out-of-office (--kind ooo) or a bounce (--kind bounce). The demo's daemon sees
it within seconds (IMAP IDLE): the thread moves, and a proposed follow-up is
withdrawn.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state == "" {
				state = demo.DefaultStatePath(a.getenv)
			}
			got, err := demo.Inject(cmd.Context(), state, in)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, got.Describe())
			return nil
		},
	}
	cmd.Flags().StringVar(&in.From, "from", "", "the faculty member's address, or another at their institution (required)")
	cmd.Flags().StringVar(&in.Text, "text", "", "what the reply says")
	cmd.Flags().StringVar(&in.Kind, "kind", demo.KindReply, "reply, ooo or bounce")
	cmd.Flags().StringVar(&state, "state", "", "the running demo's state file (default $XDG_RUNTIME_DIR/outreach-demo.json)")
	_ = cmd.MarkFlagRequired("from")
	return cmd
}

// lockedWriter serialises the demo's output: the watcher, the SMTP
// server and the daemon's ready hook print from their own goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
