package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/outreach/outreach/store"
)

func (a *app) statusCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each account's health and each mailbox's sync state",
		Long: `Show each account (ok or degraded, with the reason) and each of its mailboxes:
rows stored, the sync cursor (UIDVALIDITY, highest UID, UIDNEXT,
HIGHESTMODSEQ), the last complete pass and how long ago it was (lag), the
state and the last error. --json prints one object per account with a
"mailboxes" list.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			accts, err := st.Status(cmd.Context())
			if err != nil {
				return err
			}
			now := a.now()
			if a.jsonOut {
				for _, acct := range accts {
					if err := a.printJSON(statusJSON(acct, now)); err != nil {
						return err
					}
				}
				return nil
			}
			return a.printStatus(accts, now)
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

// mailboxJSON adds the lag to a mailbox's status.
type mailboxJSON struct {
	store.MailboxStatus
	LagSeconds *float64 `json:"lag_seconds"`
}

func statusJSON(acct store.AccountStatus, now time.Time) map[string]any {
	boxes := make([]mailboxJSON, len(acct.Mailboxes))
	for i, m := range acct.Mailboxes {
		boxes[i] = mailboxJSON{MailboxStatus: m}
		if m.LastPassAt != nil {
			lag := now.Sub(*m.LastPassAt).Seconds()
			boxes[i].LagSeconds = &lag
		}
	}
	return map[string]any{"account": acct.Name, "email": acct.Email, "state": acct.State,
		"last_error": acct.LastError, "last_error_at": acct.LastErrorAt, "mailboxes": boxes}
}

func (a *app) printStatus(accts []store.AccountStatus, now time.Time) error {
	if len(accts) == 0 {
		fmt.Fprintln(a.stdout, "no account has synced yet: configure [[accounts]] and run `outreach sync --once`")
		return nil
	}
	for _, acct := range accts {
		fmt.Fprintf(a.stdout, "%s <%s>: %s\n", acct.Name, acct.Email, acct.State)
		if acct.LastError != "" {
			fmt.Fprintf(a.stdout, "  error: %s\n", acct.LastError)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  MAILBOX\tROLE\tMESSAGES\tUIDVALIDITY\tHIGHEST UID\tUIDNEXT\tMODSEQ\tLAST PASS\tSTATE")
		for _, m := range acct.Mailboxes {
			last := "never"
			if m.LastPassAt != nil {
				last = now.Sub(*m.LastPassAt).Round(time.Second).String() + " ago"
			}
			c := m.Cursor
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", m.Name, m.Role, m.Rows, c.UIDValidity,
				c.HighestUID, c.UIDNext, c.HighestModSeq, last, m.State)
			if m.LastError != "" {
				fmt.Fprintf(tw, "  \terror: %s\n", m.LastError)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}
