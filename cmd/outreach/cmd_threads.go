package main

import (
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
)

// planner is the daemon's planner with this invocation's policy and drafts.
func (a *app) planner(st *store.Store) (*daemon.Planner, error) {
	compose, err := a.composer()
	if err != nil {
		return nil, err
	}
	return &daemon.Planner{Store: st, Policy: a.cfg.Policy, Compose: compose,
		Log: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelError}))}, nil
}

// parseNow reads --now: RFC 3339, or empty for the clock.
func (a *app) parseNow(s string) (time.Time, error) {
	if s == "" {
		return a.now(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, usageError{fmt.Errorf("--now %q: want RFC 3339, such as 2026-11-09T10:00:00Z", s)}
	}
	return t, nil
}

func (a *app) tickCommand() *cobra.Command {
	var nowFlag string
	cmd := &cobra.Command{
		Use:   "tick [--now RFC3339]",
		Short: "Run one planning pass: decide every due thread, propose follow-up drafts",
		Long: `Decide every thread whose next action is due, as the daemon does continuously:
threads move on (awaiting reply, follow-up due, closed without response,
paused, ...), follow-up drafts are proposed for your approval, and stale drafts
are withdrawn. Every change goes to the decision log (see "outreach explain").

--now runs the pass as if it were that time (RFC 3339), to see what the
planner will do; what it decides is stored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.parseNow(nowFlag); err != nil {
				return err
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			p, err := a.planner(st)
			if err != nil {
				return err
			}
			// Synced mail not yet threaded first, so the pass sees it.
			if _, err := daemon.AttachPending(cmd.Context(), st); err != nil {
				return err
			}
			now, _ := a.parseNow(nowFlag) // the clock after threading
			sum, err := p.Tick(cmd.Context(), now)
			if err != nil {
				return err
			}
			if a.jsonOut {
				if sum.Changed == nil {
					sum.Changed = []daemon.Change{}
				}
				return a.printJSON(sum)
			}
			for _, c := range sum.Changed {
				line := fmt.Sprintf("thread %d: %s -> %s", c.Thread, c.From, c.To)
				if c.DraftID != 0 {
					line += fmt.Sprintf(" (draft %d waits for your approval)", c.DraftID)
				}
				fmt.Fprintln(a.stdout, line)
			}
			for _, e := range sum.DraftErrors {
				fmt.Fprintf(a.stdout, "thread %d: no follow-up written: %s\n", e.Thread, e.Error)
			}
			fmt.Fprintf(a.stdout, "planned %d threads: %d drafts proposed, %d withdrawn, %d expired", sum.Planned,
				sum.Proposed, sum.Superseded, sum.Expired)
			if sum.Errors > 0 {
				fmt.Fprintf(a.stdout, "; %d could not be planned (see the log above)", sum.Errors)
			}
			fmt.Fprintln(a.stdout)
			return nil
		},
	}
	cmd.Flags().StringVar(&nowFlag, "now", "", "plan as if it were this time (RFC 3339)")
	a.addJSONFlag(cmd)
	return cmd
}

// agendaItem is one line of the agenda.
type agendaItem struct {
	Thread   int64                `json:"thread"`
	Contact  string               `json:"contact"`
	Name     string               `json:"name,omitempty"`
	State    outreach.ThreadState `json:"state"`
	Action   string               `json:"action"`
	At       time.Time            `json:"at"`
	Rule     string               `json:"rule"`
	Evidence string               `json:"evidence"`
}

func (a *app) agendaCommand() *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "agenda [--days N]",
		Short: "List what the planner will do in the next days, when, and why",
		Long: `List every thread with a next action in the next --days days (default 14),
soonest first: the action (propose_followup, expire_draft, close_no_response,
resume, decide), when it is due, and the reason in words. Overdue actions are
listed first; the daemon or "outreach tick" carries them out.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if days < 0 {
				return usageError{fmt.Errorf("--days %d: want 0 or more", days)}
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			now := a.now()
			until := now.AddDate(0, 0, days)
			threads, err := st.Threads(cmd.Context(), store.ThreadFilter{DueBefore: &until})
			if err != nil {
				return err
			}
			items := make([]agendaItem, 0, len(threads))
			for _, t := range threads {
				items = append(items, agendaItem{Thread: t.ID, Contact: t.Contact, Name: t.ContactName, State: t.State,
					Action: t.NextAction, At: t.NextActionAt.UTC(), Rule: t.DecisionRule, Evidence: t.DecisionEvidence})
			}
			if a.jsonOut {
				for _, it := range items {
					if err := a.printJSON(it); err != nil {
						return err
					}
				}
				return nil
			}
			if len(items) == 0 {
				fmt.Fprintf(a.stdout, "nothing planned in the next %d days\n", days)
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "WHEN\tACTION\tTHREAD\tCONTACT\tSTATE\tWHY")
			for _, it := range items {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\n", when(it.At, now), it.Action, it.Thread, it.Contact,
					it.State, it.Evidence)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().IntVar(&days, "days", 14, "how many days ahead")
	a.addJSONFlag(cmd)
	return cmd
}

// when formats a due time next to now: "2026-11-09 09:00 UTC (in 3d)".
func when(at, now time.Time) string {
	d := at.Sub(now)
	rel := "now"
	switch {
	case d < -time.Minute:
		rel = "overdue " + roughDuration(-d)
	case d > time.Minute:
		rel = "in " + roughDuration(d)
	}
	return at.UTC().Format("2006-01-02 15:04 MST") + " (" + rel + ")"
}

func roughDuration(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dm", int(d.Minutes()))
}

// threadJSON is the contract of `threads list --json`.
type threadJSON struct {
	ID             int64                `json:"id"`
	Contact        string               `json:"contact"`
	Name           string               `json:"name,omitempty"`
	State          outreach.ThreadState `json:"state"`
	Subject        string               `json:"subject"`
	InitialSentAt  *time.Time           `json:"initial_sent_at"`
	LastInboundAt  *time.Time           `json:"last_inbound_at"`
	LastOutboundAt *time.Time           `json:"last_outbound_at"`
	FollowUpsSent  int                  `json:"followups_sent"`
	NextAction     string               `json:"next_action"`
	NextActionAt   *time.Time           `json:"next_action_at"`
	PausedUntil    *time.Time           `json:"paused_until,omitempty"`
	ClosedReason   string               `json:"closed_reason,omitempty"`
	Rule           string               `json:"rule,omitempty"`
	Evidence       string               `json:"evidence,omitempty"`
	Warning        string               `json:"warning,omitempty"`
}

func toThreadJSON(t store.ThreadListing) threadJSON {
	return threadJSON{ID: t.ID, Contact: t.Contact, Name: t.ContactName, State: t.State, Subject: t.Subject,
		InitialSentAt: utc(t.InitialSentAt), LastInboundAt: utc(t.LastInboundAt), LastOutboundAt: utc(t.LastOutboundAt),
		FollowUpsSent: t.FollowUpsSent, NextAction: t.NextAction, NextActionAt: utc(t.NextActionAt),
		PausedUntil: utc(t.PausedUntil), ClosedReason: t.ClosedReason, Rule: t.DecisionRule,
		Evidence: t.DecisionEvidence, Warning: t.Warning}
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (a *app) threadsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "threads",
		Short: "List threads; pause, resume, close or reopen one",
		Long: `A thread is one conversation with one contact, started by your first email to
them (seen in Sent). Its state says where it stands; see docs/states.md.`,
	}
	cmd.AddCommand(a.threadsListCommand())
	for _, act := range []struct {
		name, short string
		action      store.UserAction
	}{
		{"pause", "Pause a thread: nothing is proposed until --until, or until you resume it", store.ActionPause},
		{"resume", "Resume a paused thread, or settle one that needs review", store.ActionResume},
		{"close", "Close a thread: nothing more is proposed to this person in it", store.ActionClose},
		{"reopen", "Undo a close; the thread waits for your review, then goes on", store.ActionReopen},
	} {
		cmd.AddCommand(a.threadActionCommand(act.name, act.short, act.action))
	}
	return cmd
}

func (a *app) threadsListCommand() *cobra.Command {
	var state string
	cmd := &cobra.Command{
		Use:   "list [--state STATE]",
		Short: "List threads, soonest next action first",
		Long: `List threads with their contact, state, the times of the first email, the last
message in and out, the follow-ups sent (0 or 1), and the next action.
--state filters by state (` + stateNames() + `).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if state != "" && !outreach.ThreadState(state).Valid() {
				return usageError{fmt.Errorf("--state %q: want one of %s", state, stateNames())}
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			threads, err := st.Threads(cmd.Context(), store.ThreadFilter{State: outreach.ThreadState(state)})
			if err != nil {
				return err
			}
			if a.jsonOut {
				for _, t := range threads {
					if err := a.printJSON(toThreadJSON(t)); err != nil {
						return err
					}
				}
				return nil
			}
			if len(threads) == 0 {
				fmt.Fprintln(a.stdout, "no threads yet: they start when your first email to a contact is synced from Sent")
				return nil
			}
			now := a.now()
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tCONTACT\tSTATE\tFIRST EMAIL\tLAST IN\tFOLLOW-UPS\tNEXT")
			for _, t := range threads {
				next := "-"
				if t.NextActionAt != nil {
					next = t.NextAction + " " + when(*t.NextActionAt, now)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\n", t.ID, t.Contact, t.State, day(t.InitialSentAt),
					day(t.LastInboundAt), t.FollowUpsSent, next)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only threads in this state")
	a.addJSONFlag(cmd)
	return cmd
}

func day(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format("2006-01-02")
}

func stateNames() string {
	names := make([]string, len(outreach.ThreadStates))
	for i, s := range outreach.ThreadStates {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

func (a *app) threadActionCommand(name, short string, action store.UserAction) *cobra.Command {
	var until, note string
	cmd := &cobra.Command{
		Use:   name + " THREAD-ID",
		Short: short,
		Long: short + `.

The action goes to the thread's history and the decision log, and the thread
is decided again at once; the new state is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return usageError{fmt.Errorf("%q is not a thread id (see `outreach threads list`)", args[0])}
			}
			var untilAt *time.Time
			if until != "" {
				t, err := parseDateOrTime(until)
				if err != nil {
					return usageError{err}
				}
				untilAt = &t
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			p, err := a.planner(st)
			if err != nil {
				return err
			}
			if err := st.RecordUserAction(cmd.Context(), id, action, untilAt, note); err != nil {
				return err
			}
			if _, err := p.PlanThread(cmd.Context(), id, a.now()); err != nil {
				return err
			}
			threads, err := st.Threads(cmd.Context(), store.ThreadFilter{})
			if err != nil {
				return err
			}
			for _, t := range threads {
				if t.ID != id {
					continue
				}
				if a.jsonOut {
					return a.printJSON(toThreadJSON(t))
				}
				fmt.Fprintf(a.stdout, "thread %d (%s): %s: %s\n", t.ID, t.Contact, t.State, t.DecisionEvidence)
			}
			return nil
		},
	}
	if action == store.ActionPause {
		cmd.Flags().StringVar(&until, "until", "", "resume on this date (YYYY-MM-DD) or time (RFC 3339)")
	}
	cmd.Flags().StringVar(&note, "note", "", "why, for the decision log")
	a.addJSONFlag(cmd)
	return cmd
}

// parseDateOrTime reads YYYY-MM-DD (midnight UTC) or RFC 3339.
func parseDateOrTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-12-01) or an RFC 3339 time", s)
}
