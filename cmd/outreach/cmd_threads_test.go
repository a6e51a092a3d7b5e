package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
)

// seedSentEmail records the applicant's first email to chen@, sent at, as
// a sync pass would, and threads it.
func seedSentEmail(t *testing.T, env map[string]string, at time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, env["OUTREACH_DATABASE_URL"], store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, _ := st.EnsureAccount(ctx, outreach.Account{Name: "main", Email: "me@example.org", DisplayName: "Amaka Obi", Timezone: "UTC"})
	sent, _ := st.EnsureMailbox(ctx, acct, "Sent", "sent")
	if _, err := st.SaveSyncBatch(ctx, store.SyncBatch{MailboxID: sent.ID, Cursor: store.Cursor{UIDValidity: 1, HighestUID: 1},
		Messages: []outreach.Message{{UID: 1, MessageID: "first@example.org", From: "me@example.org",
			To: []string{"chen@med.example.edu"}, Subject: "Research opportunity", Date: at, Direction: outreach.Outbound,
			Raw: []byte("Subject: Research opportunity\r\n\r\nDear Dr. Chen,\r\n\r\nI read your paper on robotic prostatectomy outcomes.\r\n")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := daemon.AttachPending(ctx, st); err != nil {
		t.Fatal(err)
	}
}

// inWindow is the first weekday 10:00 UTC on or after t: inside the default
// send window, so a follow-up due by then is proposed whatever time of day
// and week the tests run.
func inWindow(t time.Time) time.Time {
	d := time.Date(t.Year(), t.Month(), t.Day(), 10, 0, 0, 0, time.UTC)
	if d.Before(t) {
		d = d.AddDate(0, 0, 1)
	}
	for d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
		d = d.AddDate(0, 0, 1)
	}
	return d
}

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var objs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("not JSON: %q: %v", line, err)
		}
		objs = append(objs, obj)
	}
	return objs
}

// The planner from the command line: tick, agenda, threads list and the
// applicant's commands, then a follow-up proposed from the templates.
func TestTickAgendaAndThreadCommands(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	cfg := writeFile(t, "outreach.toml", `[profile]
name = "Amaka Obi"
position = "International medical graduate"
`)
	run := func(args ...string) result {
		t.Helper()
		r := cli(t, env, "", append([]string{"--config", cfg}, args...)...)
		if r.code != 0 {
			t.Fatalf("%v: %+v", args, r)
		}
		return r
	}
	run("contacts", "add", "--email", "chen@med.example.edu", "--last-name", "Chen", "--title", "Professor")
	sentAt := time.Now().UTC().Add(-48 * time.Hour).Truncate(time.Second)
	seedSentEmail(t, env, sentAt)

	tick := jsonLines(t, run("tick", "--json").stdout)
	if len(tick) != 1 || tick[0]["planned"] != 1.0 || tick[0]["drafts_proposed"] != 0.0 {
		t.Fatalf("first tick: %v", tick)
	}
	threads := jsonLines(t, run("threads", "list", "--json").stdout)
	if len(threads) != 1 {
		t.Fatalf("threads: %v", threads)
	}
	th := threads[0]
	for _, key := range []string{"id", "contact", "state", "initial_sent_at", "last_inbound_at", "last_outbound_at",
		"followups_sent", "next_action", "next_action_at"} {
		if _, ok := th[key]; !ok {
			t.Errorf("threads list --json lacks %q: %v", key, th)
		}
	}
	if th["contact"] != "chen@med.example.edu" || th["state"] != "awaiting_reply" || th["next_action"] != "propose_followup" {
		t.Fatalf("thread: %v", th)
	}
	id := fmt.Sprint(th["id"])
	agenda := jsonLines(t, run("agenda", "--json", "--days", "30").stdout)
	if len(agenda) != 1 || agenda[0]["action"] != "propose_followup" || !strings.Contains(fmt.Sprint(agenda[0]["evidence"]), "silence") {
		t.Fatalf("agenda: %v", agenda)
	}
	if out := run("agenda", "--days", "1").stdout; !strings.Contains(out, "nothing planned") {
		t.Errorf("agenda for one day: %q", out)
	}

	for _, step := range []struct {
		args []string
		want string
	}{
		{[]string{"pause", id, "--until", time.Now().UTC().AddDate(0, 0, 3).Format(time.DateOnly)}, "paused"},
		{[]string{"resume", id}, "awaiting_reply"},
		{[]string{"close", id, "--note", "found another lab"}, "closed_by_user"},
		{[]string{"reopen", id}, "needs_review"},
		{[]string{"resume", id}, "awaiting_reply"},
	} {
		got := jsonLines(t, run(append(append([]string{"threads"}, step.args...), "--json")...).stdout)
		if len(got) != 1 || got[0]["state"] != step.want {
			t.Fatalf("threads %v: %v, want state %s", step.args, got, step.want)
		}
	}

	later := inWindow(time.Now().UTC().AddDate(0, 0, 10)).Format(time.RFC3339)
	out := run("tick", "--now", later).stdout
	if !strings.Contains(out, "draft_proposed (draft 1 waits for your approval)") || !strings.Contains(out, "1 drafts proposed") {
		t.Fatalf("tick at the due time:\n%s", out)
	}
	if got := jsonLines(t, run("threads", "list", "--json", "--state", "draft_proposed").stdout); len(got) != 1 {
		t.Fatalf("draft_proposed threads: %v", got)
	}
	r := run("threads", "list")
	if !strings.Contains(r.stdout, "chen@med.example.edu") || !strings.Contains(r.stdout, "expire_draft") {
		t.Errorf("threads list:\n%s", r.stdout)
	}
}

// A follow-up the templates cannot write is reported with the variable to fix.
func TestTickReportsDraftErrors(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	if r := cli(t, env, "", "contacts", "add", "--email", "chen@med.example.edu"); r.code != 0 {
		t.Fatal(r)
	}
	seedSentEmail(t, env, time.Now().UTC().AddDate(0, 0, -10))
	r := cli(t, env, "", "tick", "--now", inWindow(time.Now().UTC()).Format(time.RFC3339))
	if r.code != 0 || !strings.Contains(r.stdout, "no follow-up written") || !strings.Contains(r.stdout, ".Contact.LastName is empty") {
		t.Fatalf("tick with a contact without a last name: %+v", r)
	}
}

func TestThreadCommandErrors(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"threads", "pause", "abc"}, exitInvalid},
		{[]string{"threads", "pause", "999"}, exitNotFound},
		{[]string{"threads", "pause", "1", "--until", "next week"}, exitInvalid},
		{[]string{"threads", "list", "--state", "bogus"}, exitInvalid},
		{[]string{"tick", "--now", "tomorrow"}, exitInvalid},
		{[]string{"agenda", "--days", "-1"}, exitInvalid},
	} {
		if r := cli(t, env, "", c.args...); r.code != c.code {
			t.Errorf("%v: exit %d (%s), want %d", c.args, r.code, r.stderr, c.code)
		}
	}
}
