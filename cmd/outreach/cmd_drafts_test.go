package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const profileConfig = `[profile]
name = "Amaka Obi"
position = "International medical graduate"
`

// The approval queue from the command line: list, show, edit (flags and
// $EDITOR), approve a version, reject with and without a redraft.
func TestDraftCommands(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	cfg := writeFile(t, "outreach.toml", profileConfig)
	run := func(code int, args ...string) result {
		t.Helper()
		r := cli(t, env, "", append([]string{"--config", cfg}, args...)...)
		if r.code != code {
			t.Fatalf("%v: exit %d, want %d: %+v", args, r.code, code, r)
		}
		return r
	}
	run(0, "contacts", "add", "--email", "chen@med.example.edu", "--last-name", "Chen", "--title", "Professor of Urology")
	seedSentEmail(t, env, time.Now().UTC().AddDate(0, 0, -10))
	run(0, "tick", "--now", inWindow(time.Now().UTC()).Format(time.RFC3339))

	list := jsonLines(t, run(0, "drafts", "list", "--json").stdout)
	if len(list) != 1 {
		t.Fatalf("drafts list: %v", list)
	}
	for key, want := range map[string]any{"id": 1.0, "thread": 1.0, "to": "chen@med.example.edu",
		"subject": "Re: Research opportunity", "in_reply_to": "first@example.org", "state": "proposed", "version": 1.0} {
		if list[0][key] != want {
			t.Errorf("drafts list --json: %s = %v, want %v", key, list[0][key], want)
		}
	}
	show := run(0, "drafts", "show", "1").stdout
	for _, want := range []string{"To: chen@med.example.edu", "Subject: Re: Research opportunity",
		"In-Reply-To: <first@example.org>", "Dear Professor Chen,", "> I read your paper", "# why:"} {
		if !strings.Contains(show, want) {
			t.Errorf("drafts show lacks %q:\n%s", want, show)
		}
	}

	run(0, "drafts", "edit", "1", "--subject", "Re: Research opportunity in your lab")
	if r := run(exitConflict, "drafts", "approve", "1", "--version", "1"); !strings.Contains(r.stderr, "changed since it was shown") {
		t.Errorf("stale approval: %s", r.stderr)
	}
	if r := run(0, "drafts", "approve", "1", "--version", "2"); !strings.Contains(r.stdout, "approved draft 1 version 2") {
		t.Errorf("approve: %s", r.stdout)
	}
	// $EDITOR edits the approved draft: a new version, the approval void.
	env["EDITOR"] = `sed -i 's/Thank you for your time./Thank you, and good luck with the study./'`
	run(0, "drafts", "edit", "1")
	d := jsonLines(t, run(0, "drafts", "show", "1", "--json").stdout)[0]
	if d["version"] != 3.0 || d["state"] != "proposed" || !strings.Contains(d["body"].(string), "good luck with the study") {
		t.Fatalf("after $EDITOR: version %v, state %v, body %q", d["version"], d["state"], d["body"])
	}
	if r := run(0, "drafts", "approve", "1"); !strings.Contains(r.stdout, "approved draft 1 version 3") {
		t.Errorf("approve without --version must say what it approved: %s", r.stdout)
	}
	if r := run(0, "drafts", "reject", "1", "--redraft"); !strings.Contains(r.stdout, "new draft 2 waits for you") {
		t.Errorf("redraft: %s", r.stdout)
	}
	if r := run(0, "drafts", "reject", "2", "--note", "found another lab"); !strings.Contains(r.stdout, "closed_by_user") {
		t.Errorf("reject: %s", r.stdout)
	}
	if got := jsonLines(t, run(0, "drafts", "list", "--json").stdout); len(got) != 0 {
		t.Errorf("drafts needing attention after both were rejected: %v", got)
	}
	if got := jsonLines(t, run(0, "drafts", "list", "--all", "--json").stdout); len(got) != 2 {
		t.Errorf("drafts list --all: %v", got)
	}
	run(exitNotFound, "drafts", "show", "99")
	run(exitInvalid, "drafts", "approve", "abc")
	run(exitConflict, "drafts", "approve", "2")
	run(exitInvalid, "drafts", "list", "--state", "bogus")
}

func TestParseEdited(t *testing.T) {
	t.Parallel()
	e, err := parseEdited("# comment\nTo: a@b.example\nSubject: Re: Hi\n\nBody line\n\n> quote\n")
	if err != nil || e.To != "a@b.example" || e.Subject != "Re: Hi" || e.Body != "Body line\n\n> quote\n" {
		t.Fatalf("parseEdited: %+v %v", e, err)
	}
	for _, bad := range []string{"To: a@b.example\nSubject: x\n\n  \n", "Cc: x@y.example\n\nbody", "To: a@b.example\nSubject:\n\nbody"} {
		if _, err := parseEdited(bad); err == nil {
			t.Errorf("parseEdited(%q) accepted it", bad)
		}
	}
}

func TestTemplateCommands(t *testing.T) {
	t.Parallel()
	env := dbEnv(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "outreach.toml")
	if err := os.WriteFile(cfg, []byte(profileConfig+"\n[templates]\ndir = \"tmpl\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "tmpl"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := cli(t, env, "", "--config", cfg, "templates", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "followup_research") || !strings.Contains(r.stdout, "(used for follow-ups)") {
		t.Fatalf("templates list: %+v", r)
	}
	if r := cli(t, env, "", "--config", cfg, "templates", "lint"); r.code != 0 || !strings.Contains(r.stdout, "ok:") {
		t.Fatalf("lint of the defaults: %+v", r)
	}
	noProfile := writeFile(t, "bare.toml", "")
	if r := cli(t, env, "", "--config", noProfile, "templates", "lint"); r.code != exitInvalid || !strings.Contains(r.stdout, ".Profile.Name") {
		t.Fatalf("lint without a [profile]: %+v", r)
	}
	broken := "Dear Dr. {{.Contact.LastName}},\n\n{{if .Contact.Extra.paper}}\nThank you.\n"
	if err := os.WriteFile(filepath.Join(dir, "tmpl", "followup.tmpl"), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, env, "", "--config", cfg, "templates", "lint"); r.code != exitInvalid || !strings.Contains(r.stdout, "followup.tmpl:") {
		t.Fatalf("lint of a broken override: %+v", r)
	}
	if err := os.WriteFile(filepath.Join(dir, "tmpl", "followup.tmpl"), []byte("Dear Dr. {{.Contact.LastName}},\n\nOne line.\n\n{{.Profile.Name}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, env, "", "contacts", "add", "--email", "chen@med.example.edu", "--last-name", "Chen"); r.code != 0 {
		t.Fatal(r)
	}
	r = cli(t, env, "", "--config", cfg, "templates", "preview", "followup", "--contact", "chen@med.example.edu")
	if r.code != 0 || !strings.Contains(r.stdout, "Dear Dr. Chen,\n\nOne line.") || !strings.Contains(r.stdout, "Subject: Re: Research opportunity") {
		t.Fatalf("preview of the override: %+v", r)
	}
	seedSentEmail(t, env, time.Now().UTC().AddDate(0, 0, -3))
	r = cli(t, env, "", "--config", cfg, "templates", "preview", "followup_research", "--contact", "chen@med.example.edu")
	if r.code != 0 || !strings.Contains(r.stdout, "In-Reply-To: <first@example.org>") || !strings.Contains(r.stdout, "> I read your paper") {
		t.Fatalf("preview against the real thread: %+v", r)
	}
	if r := cli(t, env, "", "--config", cfg, "templates", "preview", "nope", "--contact", "chen@med.example.edu"); r.code != exitNotFound {
		t.Errorf("preview of an unknown template: %+v", r)
	}
}
