package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/mailer"
)

func (a *app) sendCommand() *cobra.Command {
	var once bool
	var nowFlag, account string
	cmd := &cobra.Command{
		Use:   "send [--once] [--now RFC3339] [--account NAME]",
		Short: "Send the approved follow-ups that are due, each exactly once",
		Long: `Send every approved follow-up that is due: inside the recipient's send window
(their time zone, else the account's) and under the account's daily_send_cap.

Right before sending, the account's mailboxes are synced and the thread is
decided again: if a reply, a bounce, a block or a pause arrived since you
approved, the draft is withdrawn (superseded) and nothing is sent. The
message is a reply in the conversation (In-Reply-To, References, "Re:") with
a Message-ID outreach chose and stored before sending; its copy goes to the
Sent mailbox (sent_copy in the account's configuration).

Nothing is ever sent twice. A temporary failure (4xx, a dropped connection)
is tried again later; a permanent one (5xx) fails, and you are told. If
outreach stops in the middle of a send, the next run looks for the message
in Sent: found, it was sent; not found, the draft waits for you in review
("may have been sent"); it is never resent blindly.

With --once, one run, then exit: status 1 when a follow-up failed or may
have been sent, 6 when a server could not be reached. Without it, keep
sending every minute until Ctrl-C. --now (with --once) runs as if it were
that time (RFC 3339); what is sent is sent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if nowFlag != "" && !once {
				return usageError{errors.New("--now needs --once")}
			}
			now, err := a.parseNow(nowFlag)
			if err != nil {
				return err
			}
			clock := a.now
			if nowFlag != "" {
				clock = func() time.Time { return now }
			}
			if once {
				return a.sendOnce(cmd.Context(), account, clock)
			}
			return a.sendLoop(cmd.Context(), account, clock)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "one run, then exit")
	cmd.Flags().StringVar(&nowFlag, "now", "", "with --once: run as if it were this time (RFC 3339)")
	cmd.Flags().StringVar(&account, "account", "", "only this account (by name)")
	a.addJSONFlag(cmd)
	return cmd
}

// sender wires the daemon's Sender for the configured accounts (all, or
// the one named).
func (a *app) sender(ctx context.Context, only string, clock func() time.Time, log *slog.Logger) (*daemon.Sender, error) {
	syncAccts, err := a.syncConfigs(ctx, only)
	if err != nil {
		return nil, err
	}
	st, err := a.recordAccounts(ctx, syncAccts)
	if err != nil {
		return nil, err
	}
	var accts []daemon.SendAccount
	for _, da := range syncAccts {
		sa, err := a.sendAccount(ctx, da)
		if err != nil {
			return nil, err
		}
		accts = append(accts, sa)
	}
	p, err := a.planner(st)
	if err != nil {
		return nil, err
	}
	return &daemon.Sender{Store: st, Syncer: a.syncer(st), Planner: p, Policy: a.cfg.Policy, Accounts: accts,
		Now: clock, Log: log}, nil
}

// sendAccount adds the SMTP side of a configured account to its sync view.
func (a *app) sendAccount(ctx context.Context, da daemon.Account) (daemon.SendAccount, error) {
	c := a.accountConfig(da.Name)
	pw, err := c.SMTP.Secret(ctx, a.getenv)
	if err != nil {
		return daemon.SendAccount{}, outreach.Errorf(outreach.KindInvalid, "account %s: smtp: %w", c.Name, err)
	}
	zone, err := time.LoadLocation(c.Timezone)
	if err != nil {
		return daemon.SendAccount{}, outreach.Errorf(outreach.KindInvalid, "account %s: timezone: %w", c.Name, err)
	}
	return daemon.SendAccount{Account: da, DisplayName: c.DisplayName, Zone: zone, ProviderFilesSent: c.providerFilesSent(),
		SMTP: mailer.Server{Host: c.SMTP.Host, Port: c.SMTP.Port, Security: c.SMTP.Security,
			Username: c.SMTP.Username, Password: pw}}, nil
}

func (a *app) sendOnce(ctx context.Context, account string, clock func() time.Time) error {
	// The report says everything; the log would repeat it.
	s, err := a.sender(ctx, account, clock, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	rep, runErr := s.RunOnce(ctx)
	if err := a.printSendReport(rep); err != nil {
		return err
	}
	a.warnSendProblems(rep)
	if failed, review := rep.Count(daemon.OutcomeFailed), rep.Count(daemon.OutcomeReview); failed+review > 0 {
		return fmt.Errorf("follow-ups that need you: %d failed, %d may have been sent (see above)", failed, review)
	}
	return runErr
}

func (a *app) printSendReport(rep daemon.SendReport) error {
	if a.jsonOut {
		for _, it := range rep.Items {
			if err := a.printJSON(it); err != nil {
				return err
			}
		}
		return nil
	}
	for _, it := range rep.Items {
		fmt.Fprintln(a.stdout, sendLine(it))
	}
	fmt.Fprintf(a.stdout, "%d sent, %d retrying, %d failed, %d may have been sent, %d withdrawn, %d waiting\n",
		rep.Count(daemon.OutcomeSent), rep.Count(daemon.OutcomeRetry), rep.Count(daemon.OutcomeFailed),
		rep.Count(daemon.OutcomeReview), rep.Count(daemon.OutcomeSuperseded), rep.Count(daemon.OutcomeWaiting))
	return nil
}

// sendLine is one draft's outcome in words.
func sendLine(it daemon.SendItem) string {
	outcome := string(it.Outcome)
	if it.Recovered {
		outcome += " (after a restart)"
	}
	line := fmt.Sprintf("%-10s draft %d to %s (thread %d)", outcome, it.Draft, it.To, it.Thread)
	var why []string
	for _, s := range []string{it.Reply, it.Reason} {
		if s != "" {
			why = append(why, s)
		}
	}
	if it.Outcome == daemon.OutcomeRetry && it.Next != nil {
		why = append(why, "next attempt "+it.Next.UTC().Format(time.RFC3339))
	}
	if len(why) > 0 {
		line += ": " + strings.Join(why, "; ")
	}
	return line
}

// warnSendProblems puts on stderr, one line each, the drafts that need
// the applicant, and what to do.
func (a *app) warnSendProblems(rep daemon.SendReport) {
	for _, it := range rep.Items {
		switch it.Outcome {
		case daemon.OutcomeFailed:
			fmt.Fprintf(a.stderr, "outreach: draft %d to %s FAILED and was not sent: %s. Fix the cause (the address, "+
				"the account), then write by hand if it still makes sense; outreach will not send it again.\n",
				it.Draft, it.To, it.Reason)
		case daemon.OutcomeReview:
			fmt.Fprintf(a.stderr, "outreach: draft %d to %s MAY HAVE BEEN SENT: %s. Look in your Sent folder (and for "+
				"a reply) before doing anything; outreach will not resend it.\n", it.Draft, it.To,
				strings.TrimPrefix(it.Reason, "may have been sent: "))
		}
	}
}

func (a *app) sendLoop(ctx context.Context, account string, clock func() time.Time) error {
	s, err := a.sender(ctx, account, clock, slog.New(slog.NewTextHandler(a.stderr, nil)))
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stderr, "outreach: sending approved follow-ups for %s every minute; Ctrl-C stops\n",
		plural(len(s.Accounts), "account"))
	if err := s.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
