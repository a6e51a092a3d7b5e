package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/store"
)

func (a *app) draftsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drafts",
		Short: "Review follow-up drafts: list, show, edit, approve, reject, settle",
		Long: `The planner proposes at most one follow-up per thread; nothing is sent until you
approve it. Approval is of one version of the draft: an edit makes a new
version and voids an earlier approval, and approving a version that is no
longer current is refused. On approval the thread is checked again (a reply
since? a block? a pause?) and the approval is refused with the reason.`,
	}
	cmd.AddCommand(a.draftsListCommand(), a.draftsShowCommand(), a.draftsEditCommand(),
		a.draftsApproveCommand(), a.draftsRejectCommand(), a.draftsSettleCommand())
	return cmd
}

// draftJSON is the contract of `drafts list --json` and `drafts show --json`.
type draftJSON struct {
	ID          int64               `json:"id"`
	Thread      int64               `json:"thread"`
	State       outreach.DraftState `json:"state"`
	Version     int                 `json:"version"`
	From        string              `json:"from"`
	To          string              `json:"to"`
	Subject     string              `json:"subject"`
	InReplyTo   string              `json:"in_reply_to"`
	References  []string            `json:"references"`
	MessageID   string              `json:"message_id"`
	Contact     string              `json:"contact"`
	ThreadState string              `json:"thread_state"`
	Reason      string              `json:"reason,omitempty"`
	Approved    *int                `json:"approved_version,omitempty"`
	LastError   string              `json:"last_error,omitempty"`
	Body        string              `json:"body,omitempty"`
}

func toDraftJSON(d store.DraftView, withBody bool) draftJSON {
	j := draftJSON{ID: d.ID, Thread: d.ThreadID, State: d.State, Version: d.Version, From: d.From, To: d.To,
		Subject: d.Subject, InReplyTo: d.InReplyTo, References: []string(d.References), MessageID: d.MessageID,
		Contact: d.Contact, ThreadState: d.ThreadState, Reason: d.Reason, Approved: d.ApprovedVersion, LastError: d.LastError}
	if j.References == nil {
		j.References = []string{}
	}
	if withBody {
		j.Body = d.Body
	}
	return j
}

func (a *app) draftsListCommand() *cobra.Command {
	var state string
	var all bool
	cmd := &cobra.Command{
		Use:   "list [--state STATE] [--all]",
		Short: "List drafts that need you: waiting, approved, on their way or in trouble",
		Long: `List drafts waiting for approval, approved and waiting for the send window,
being sent or retried, and those that failed or need review. --state filters by
one state (proposed, approved, sending, sent, retry, failed, review, rejected,
superseded, expired); --all lists every draft ever proposed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.DraftFilter{States: store.AttentionDraftStates}
			switch {
			case state != "":
				if !outreach.DraftState(state).Valid() {
					return usageError{fmt.Errorf("--state %q is not a draft state", state)}
				}
				f.States = []outreach.DraftState{outreach.DraftState(state)}
			case all:
				f.States = nil
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			drafts, err := st.Drafts(cmd.Context(), f)
			if err != nil {
				return err
			}
			if a.jsonOut {
				for _, d := range drafts {
					if err := a.printJSON(toDraftJSON(d, false)); err != nil {
						return err
					}
				}
				return nil
			}
			if len(drafts) == 0 {
				fmt.Fprintln(a.stdout, "no drafts need you")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTHREAD\tSTATE\tVERSION\tTO\tSUBJECT")
			for _, d := range drafts {
				fmt.Fprintf(tw, "%d\t%d\t%s\t%d\t%s\t%s\n", d.ID, d.ThreadID, d.State, d.Version, d.To, d.Subject)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "\nshow one with `outreach drafts show ID`; approve it with `outreach drafts approve ID --version N`")
			return nil
		},
	}
	cmd.Flags().StringVar(&state, "state", "", "only drafts in this state")
	cmd.Flags().BoolVar(&all, "all", false, "every draft, also those rejected, superseded, expired or sent")
	a.addJSONFlag(cmd)
	return cmd
}

// draftID reads a draft id argument.
func draftID(arg string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%q is not a draft id (see `outreach drafts list`)", arg)}
	}
	return id, nil
}

// openDraft parses arg as a draft id, then opens the store.
func (a *app) openDraft(ctx context.Context, arg string) (*store.Store, int64, error) {
	id, err := draftID(arg)
	if err != nil {
		return nil, 0, err
	}
	st, err := a.openStore(ctx, false)
	return st, id, err
}

func (a *app) draftsShowCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "show DRAFT-ID",
		Short: "Show a draft exactly as it will be sent, and why it was proposed",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, id, err := a.openDraft(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d, err := st.Draft(cmd.Context(), id)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(toDraftJSON(d, true))
			}
			fmt.Fprintf(a.stdout, "# draft %d, version %d, %s; thread %d (%s)\n", d.ID, d.Version, d.State, d.ThreadID, d.ThreadState)
			if d.Reason != "" {
				fmt.Fprintf(a.stdout, "# why: %s\n", d.Reason)
			}
			if d.LastError != "" {
				fmt.Fprintf(a.stdout, "# last error: %s\n", d.LastError)
			}
			fmt.Fprint(a.stdout, renderEmail(d))
			return nil
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

// renderEmail shows a draft as the recipient will see it, ending in a
// newline for the terminal.
func renderEmail(d store.DraftView) string {
	t := d.Text()
	if !strings.HasSuffix(t, "\n") {
		t += "\n"
	}
	return t
}

func (a *app) draftsEditCommand() *cobra.Command {
	var subject, to, bodyFile string
	var version int
	cmd := &cobra.Command{
		Use:   "edit DRAFT-ID [--subject S] [--to ADDR] [--body-file FILE]",
		Short: "Edit a draft in $EDITOR (or with flags); the version goes up and any approval is void",
		Long: `Without flags, open the draft in $VISUAL or $EDITOR (default vi): the To and
Subject lines, a blank line, then the body; lines starting with "#" are
ignored. Saving the file unchanged changes nothing. With flags, change only
what they name (--body-file - reads the body from stdin). --version N refuses
the edit if the draft is no longer at version N.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, id, err := a.openDraft(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d, err := st.Draft(cmd.Context(), id)
			if err != nil {
				return err
			}
			if version == 0 {
				version = d.Version
			}
			edit := store.DraftEdit{To: to, Subject: subject}
			if bodyFile != "" {
				if edit.Body, err = a.readBody(bodyFile); err != nil {
					return err
				}
			}
			if edit == (store.DraftEdit{}) {
				if edit, err = a.editInEditor(d); err != nil {
					return err
				}
				if edit == (store.DraftEdit{To: d.To, Subject: d.Subject, Body: d.Body}) {
					fmt.Fprintf(a.stdout, "draft %d unchanged (version %d)\n", id, d.Version)
					return nil
				}
			}
			v, err := st.EditDraft(cmd.Context(), id, version, edit)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(map[string]any{"id": id, "version": v, "state": outreach.DraftProposed})
			}
			fmt.Fprintf(a.stdout, "draft %d is now version %d and waits for approval: outreach drafts approve %d --version %d\n",
				id, v, id, v)
			return nil
		},
	}
	cmd.Flags().StringVar(&subject, "subject", "", "new subject")
	cmd.Flags().StringVar(&to, "to", "", "another of the contact's addresses")
	cmd.Flags().StringVar(&bodyFile, "body-file", "", "new body from this file (- for stdin)")
	cmd.Flags().IntVar(&version, "version", 0, "refuse unless the draft is at this version")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) readBody(path string) (string, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(a.stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return "", outreach.Errorf(outreach.KindInvalid, "read body: %w", err)
	}
	if strings.TrimSpace(string(data)) == "" {
		return "", outreach.Errorf(outreach.KindInvalid, "the new body is empty: to withdraw a draft, reject it")
	}
	return string(data), nil
}

// editInEditor lets the applicant edit the draft as a small text file.
func (a *app) editInEditor(d store.DraftView) (store.DraftEdit, error) {
	dir, err := os.MkdirTemp("", "outreach-draft-")
	if err != nil {
		return store.DraftEdit{}, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, fmt.Sprintf("draft-%d.txt", d.ID))
	text := fmt.Sprintf("# Draft %d, version %d, to %s. Lines starting with # are ignored.\n"+
		"# Save and quit to keep your changes; quit without saving to change nothing.\n"+
		"To: %s\nSubject: %s\n\n%s", d.ID, d.Version, d.Contact, d.To, d.Subject, d.Body)
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		return store.DraftEdit{}, err
	}
	editor := a.getenv("VISUAL")
	if editor == "" {
		editor = a.getenv("EDITOR")
	}
	if editor == "" {
		editor = "vi"
	}
	c := exec.Command("sh", "-c", editor+` "$1"`, "editor", path)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, a.stdout, a.stderr
	if err := c.Run(); err != nil {
		return store.DraftEdit{}, outreach.Errorf(outreach.KindInvalid, "editor %q: %w", editor, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return store.DraftEdit{}, err
	}
	return parseEdited(string(data))
}

// parseEdited reads the editor's file: To and Subject lines, a blank line,
// the body. Comment lines before the body are dropped.
func parseEdited(text string) (store.DraftEdit, error) {
	var e store.DraftEdit
	lines := strings.SplitAfter(text, "\n")
	i := 0
	for ; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r\n")
		if strings.HasPrefix(line, "#") {
			continue
		}
		if line == "" {
			i++
			break
		}
		name, value, ok := strings.Cut(line, ":")
		switch strings.ToLower(strings.TrimSpace(name)) {
		case "to":
			e.To = strings.TrimSpace(value)
		case "subject":
			e.Subject = strings.TrimSpace(value)
		default:
			if !ok {
				return e, outreach.Errorf(outreach.KindInvalid, "edited draft: %q: want To:, Subject:, a blank line, then the body", line)
			}
			return e, outreach.Errorf(outreach.KindInvalid, "edited draft: only To and Subject can be changed, not %q", name)
		}
	}
	e.Body = strings.Join(lines[i:], "")
	if strings.TrimSpace(e.Body) == "" {
		return e, outreach.Errorf(outreach.KindInvalid, "edited draft: the body is empty: to withdraw a draft, reject it")
	}
	if e.Subject == "" || e.To == "" {
		return e, outreach.Errorf(outreach.KindInvalid, "edited draft: To and Subject must not be empty")
	}
	return e, nil
}

func (a *app) draftsApproveCommand() *cobra.Command {
	var version int
	var note string
	cmd := &cobra.Command{
		Use:   "approve DRAFT-ID [--version N]",
		Short: "Approve a draft for sending (exactly the version you read)",
		Long: `Approve version N of a draft: it will be sent in the recipient's send window.
Refused when the draft changed since version N, and when the thread no longer
waits for it (a reply arrived, the contact was blocked, a pause began, the
draft expired); the reason is printed. Without --version the current version
is approved, and what was approved is printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.review(cmd, args[0], store.ReviewApprove, version, note)
		},
	}
	cmd.Flags().IntVar(&version, "version", 0, "the version you read (see `outreach drafts show`)")
	cmd.Flags().StringVar(&note, "note", "", "a note for the decision log")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) draftsRejectCommand() *cobra.Command {
	var redraft bool
	var note string
	cmd := &cobra.Command{
		Use:   "reject DRAFT-ID [--redraft]",
		Short: "Reject a draft: the thread closes as declined, or --redraft writes a fresh one",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			action := store.ReviewReject
			if redraft {
				action = store.ReviewRedraft
			}
			return a.review(cmd, args[0], action, 0, note)
		},
	}
	cmd.Flags().BoolVar(&redraft, "redraft", false, "propose a fresh draft instead of closing the thread")
	cmd.Flags().StringVar(&note, "note", "", "why, for the decision log")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) draftsSettleCommand() *cobra.Command {
	var sent, notSent bool
	var note string
	cmd := &cobra.Command{
		Use:   "settle DRAFT-ID --sent|--not-sent [--note TEXT]",
		Short: "Say whether a draft in review went out, after checking your Sent folder",
		Long: `A draft is in review when its send may or may not have gone out: the mail
server never answered the end of the message, and no copy has turned up in
the mailboxes synced since (when one does, the draft settles by itself).
Nothing in review is ever sent again. Look in your Sent folder (or ask):

  --sent      it went out: it counts as the thread's one follow-up
  --not-sent  it did not: the draft is marked failed and nothing is resent;
              the thread waits for you (outreach threads resume ID lets the
              planner propose a follow-up again, which you approve as usual)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if sent == notSent {
				return outreach.Errorf(outreach.KindInvalid, "say --sent or --not-sent")
			}
			st, id, err := a.openDraft(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if err := st.SettleReview(cmd.Context(), id, sent, note, a.now()); err != nil {
				return err
			}
			d, err := st.Draft(cmd.Context(), id)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(toDraftJSON(d, false))
			}
			fmt.Fprintf(a.stdout, "draft %d is %s; thread %d is %s\n", d.ID, d.State, d.ThreadID, d.ThreadState)
			return nil
		},
	}
	cmd.Flags().BoolVar(&sent, "sent", false, "it went out")
	cmd.Flags().BoolVar(&notSent, "not-sent", false, "it did not go out")
	cmd.Flags().StringVar(&note, "note", "", "how you know, for the decision log")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) review(cmd *cobra.Command, arg string, action store.ReviewAction, version int, note string) error {
	id, err := draftID(arg)
	if err != nil {
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
	rev, err := p.Review(cmd.Context(), id, action, version, note, a.now())
	if err != nil {
		return err
	}
	if a.jsonOut {
		out := map[string]any{"draft": toDraftJSON(rev.Draft, false), "thread_state": rev.ThreadState}
		if rev.Refused != "" {
			out["refused"] = rev.Refused
		}
		if rev.NewDraftID != 0 {
			out["new_draft"] = rev.NewDraftID
		}
		if err := a.printJSON(out); err != nil {
			return err
		}
	}
	if rev.Refused != "" {
		return outreach.Errorf(outreach.KindConflict, "draft %d not approved: %s", id, rev.Refused)
	}
	if a.jsonOut {
		return nil
	}
	d := rev.Draft
	switch action {
	case store.ReviewApprove:
		fmt.Fprintf(a.stdout, "approved draft %d version %d: to %s, %q; it goes out in the recipient's send window\n",
			d.ID, d.Version, d.To, d.Subject)
	case store.ReviewRedraft:
		if rev.NewDraftID != 0 {
			fmt.Fprintf(a.stdout, "rejected draft %d; new draft %d waits for you: outreach drafts show %d\n", id, rev.NewDraftID, rev.NewDraftID)
		} else {
			fmt.Fprintf(a.stdout, "rejected draft %d; thread %d is %s: %s\n", id, d.ThreadID, rev.ThreadState, rev.DraftError)
		}
	default:
		fmt.Fprintf(a.stdout, "rejected draft %d; thread %d is %s: nothing more is proposed in it\n", id, d.ThreadID, rev.ThreadState)
	}
	return nil
}
