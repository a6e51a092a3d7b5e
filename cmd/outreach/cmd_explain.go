package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/outreach/outreach/store"
)

func (a *app) explainCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "explain THREAD-ID|MESSAGE-ID",
		Short: "Show the evidence and the decision log behind a thread or a message",
		Long: `Explain a thread (by its number) or a message (by its Message-ID, with or
without <>): how each message was classified and why (the rules that fired),
how it was attached to its thread, and every decision recorded on the thread,
oldest first. --json prints one object per line: the thread, its messages,
then its events.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			threadID, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				msgs, err := st.MessagesByMessageID(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if err := a.printMessages(msgs); err != nil {
					return err
				}
				if msgs[0].ThreadID == nil {
					return nil
				}
				threadID = *msgs[0].ThreadID
			}
			return a.explainThread(cmd, st, threadID)
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) explainThread(cmd *cobra.Command, st *store.Store, id int64) error {
	t, err := st.Thread(cmd.Context(), id)
	if err != nil {
		return err
	}
	msgs, err := st.ThreadMessages(cmd.Context(), id)
	if err != nil {
		return err
	}
	events, err := st.Events(cmd.Context(), store.EventFilter{ThreadID: id})
	if err != nil {
		return err
	}
	if a.jsonOut {
		if err := a.printJSON(map[string]any{"thread": t}); err != nil {
			return err
		}
		if err := a.printMessages(msgs); err != nil {
			return err
		}
		for _, e := range events {
			if err := a.printJSON(map[string]any{"event": e}); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(a.stdout, "\nthread %d with %s (%s): %s\n  subject: %s\n", t.ID, t.Contact, t.Account, t.State, t.Subject)
	if t.NextAction != "" && t.NextActionAt != nil {
		fmt.Fprintf(a.stdout, "  next: %s at %s\n", t.NextAction, t.NextActionAt.Format(time.RFC3339))
	}
	fmt.Fprintln(a.stdout, "\nmessages:")
	if err := a.printMessages(msgs); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout, "\ndecisions:")
	for _, e := range events {
		line := fmt.Sprintf("  %s  %-18s %s", e.At.Format("2006-01-02 15:04"), e.Type, e.Actor)
		if e.FromState != "" || e.ToState != "" {
			line += fmt.Sprintf("  %s -> %s", orDash(e.FromState), e.ToState)
		}
		if e.Rule != "" {
			line += "  rule " + e.Rule
		}
		fmt.Fprintln(a.stdout, line)
		if ev, ok := e.Detail["evidence"].(string); ok && ev != "" {
			fmt.Fprintf(a.stdout, "      %s\n", ev)
		}
	}
	return nil
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// classificationView is the part of a stored classification shown here.
type classificationView struct {
	Reason     string   `json:"reason"`
	ReturnDate *string  `json:"return_date"`
	Confidence string   `json:"confidence"`
	Evidence   []string `json:"evidence"`
}

func (a *app) printMessages(msgs []store.MessageInfo) error {
	for _, m := range msgs {
		if a.jsonOut {
			if err := a.printJSON(map[string]any{"message": m}); err != nil {
				return err
			}
			continue
		}
		kind := "(not classified)"
		if m.Kind != nil {
			kind = *m.Kind
		}
		date := ""
		if m.Date != nil {
			date = m.Date.Format("2006-01-02 15:04")
		}
		fmt.Fprintf(a.stdout, "  %s  %-3s %s  %s <%s> in %s: %s\n", date, m.Direction, kind, m.From, m.MessageID, m.Mailbox, m.Subject)
		var c classificationView
		if len(m.Classification) > 0 && json.Unmarshal(m.Classification, &c) == nil && c.Confidence != "" {
			detail := c.Confidence
			if c.Reason != "" {
				detail = c.Reason + ", " + detail
			}
			if c.ReturnDate != nil {
				detail += ", back on " + *c.ReturnDate
			}
			fmt.Fprintf(a.stdout, "      classified: %s; %s\n", detail, strings.Join(c.Evidence, "; "))
		}
		if m.ThreadRule != "" {
			fmt.Fprintf(a.stdout, "      threaded by: %s\n", m.ThreadRule)
		}
		if m.ParseError != "" {
			fmt.Fprintf(a.stdout, "      parse error: %s\n", m.ParseError)
		}
	}
	return nil
}
