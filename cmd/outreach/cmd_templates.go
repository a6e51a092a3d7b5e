package main

import (
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/daemon"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/templates"
)

func (a *app) templatesCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "templates",
		Short: "List, check and preview the follow-up templates",
		Long: `Follow-ups are written from text/template files: the built-in ones, and yours
in [templates] dir (NAME.tmpl overrides the built-in template of that name).
[templates] followup names the one used; a contact's "template" column
overrides it. A variable a template uses that is missing or empty stops the
draft with an error naming it: no follow-up goes out with a hole in it.`,
	}
	cmd.AddCommand(a.templatesListCommand(), a.templatesLintCommand(), a.templatesPreviewCommand())
	return cmd
}

func (a *app) templatesListCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the templates and where each comes from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			set, err := a.templateSet()
			if err != nil {
				return err
			}
			if a.jsonOut {
				for _, n := range set.Names() {
					if err := a.printJSON(map[string]any{"name": n, "file": set.File(n), "default": n == a.cfg.Templates.FollowUp}); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tFILE\t")
			for _, n := range set.Names() {
				mark := ""
				if n == a.cfg.Templates.FollowUp {
					mark = "(used for follow-ups)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", n, set.File(n), mark)
			}
			return tw.Flush()
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) templatesLintCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lint",
		Short: "Check every template: syntax, variables, length, and your [profile]",
		Long: `Parse every template, walk every branch for unknown variables, render each
against a sample contact and against your [profile], and check the follow-up
stays short. Problems are printed as FILE:LINE: template NAME: what is wrong;
the exit code is 2 when there is any.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.loadConfig(); err != nil {
				return err
			}
			set, err := a.templateSet()
			var parse templates.Problems
			if errors.As(err, &parse) {
				return a.reportProblems(parse, 0)
			}
			if err != nil {
				return err
			}
			problems := set.Lint()
			if set.File(a.cfg.Templates.FollowUp) == "" {
				problems = append(problems, templates.Problem{File: a.cfg.path, Template: a.cfg.Templates.FollowUp,
					Message: fmt.Sprintf("[templates] followup names no template (have %s)", strings.Join(set.Names(), ", "))})
			} else if _, err := set.Render(a.cfg.Templates.FollowUp, previewData(a.cfg, nil)); err != nil {
				problems = append(problems, templates.Problem{File: set.File(a.cfg.Templates.FollowUp),
					Template: a.cfg.Templates.FollowUp, Message: "with your [profile]: " + err.Error()})
			}
			return a.reportProblems(problems, len(set.Names()))
		},
	}
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) reportProblems(problems []templates.Problem, n int) error {
	for _, p := range problems {
		if a.jsonOut {
			if err := a.printJSON(p); err != nil {
				return err
			}
			continue
		}
		fmt.Fprintln(a.stdout, p.Error())
	}
	if len(problems) > 0 {
		return outreach.Errorf(outreach.KindInvalid, "%d template problems", len(problems))
	}
	if !a.jsonOut {
		fmt.Fprintf(a.stdout, "ok: %d templates\n", n)
	}
	return nil
}

// previewData is a sample follow-up's data: the contact (a sample one when
// nil), an original email, and the configured profile.
func previewData(cfg *Config, c *outreach.Contact) templates.Data {
	contact := outreach.Contact{Email: "chen@med.example.edu", FirstName: "Wei", LastName: "Chen", Title: "Professor of Urology",
		Institution: "University Medical Center"}
	if c != nil {
		contact = *c
	}
	return templates.Data{To: contact.Email, Contact: contact, Profile: templates.Profile(cfg.Profile),
		Original: templates.Original{MessageID: "preview@outreach.invalid", Subject: "Research opportunity",
			Date: time.Now().AddDate(0, 0, -8), From: "you@example.org", FromName: cfg.Profile.Name,
			Text: "Dear Professor,\n\n(the text of your first email)\n"}}
}

func (a *app) templatesPreviewCommand() *cobra.Command {
	var contact string
	cmd := &cobra.Command{
		Use:   "preview NAME --contact EMAIL",
		Short: "Render a follow-up for a contact, exactly as the planner would",
		Long: `Render template NAME for the contact: when you have written to them, as a
follow-up to your latest thread with them (the email quoted, the subject and
threading headers as they will be sent); otherwise to a sample first email.
Nothing is stored.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if contact == "" {
				return usageError{errors.New("--contact EMAIL is required")}
			}
			st, err := a.openStore(cmd.Context(), false)
			if err != nil {
				return err
			}
			set, err := a.templateSet()
			if err != nil {
				return err
			}
			c, err := st.ContactByAddress(cmd.Context(), contact)
			if err != nil {
				return err
			}
			d, err := a.preview(cmd, st, set, args[0], c)
			if err != nil {
				return err
			}
			if a.jsonOut {
				return a.printJSON(toDraftJSON(d, true))
			}
			fmt.Fprint(a.stdout, renderEmail(d))
			return nil
		},
	}
	cmd.Flags().StringVar(&contact, "contact", "", "the contact's email address")
	a.addJSONFlag(cmd)
	return cmd
}

func (a *app) preview(cmd *cobra.Command, st *store.Store, set *templates.Set, name string, c outreach.Contact) (store.DraftView, error) {
	threads, err := st.Threads(cmd.Context(), store.ThreadFilter{ContactID: c.ID})
	if err != nil {
		return store.DraftView{}, err
	}
	view := store.DraftView{From: "", FromName: a.cfg.Profile.Name}
	if len(threads) == 0 {
		fmt.Fprintf(a.stderr, "# no email to %s synced yet: a sample first email stands in for yours\n", c.Email)
		r, err := set.Render(name, previewData(a.cfg, &c))
		if err != nil {
			return view, err
		}
		view.To, view.Subject, view.Body, view.InReplyTo, view.References = r.To, r.Subject, r.Body, r.InReplyTo, r.References
		return view, nil
	}
	latest := threads[0]
	for _, t := range threads {
		if t.ID > latest.ID {
			latest = t
		}
	}
	in, err := st.LoadPlanInput(cmd.Context(), latest.ID)
	if err != nil {
		return view, err
	}
	nd, err := daemon.ComposeDraft(set, templates.Profile(a.cfg.Profile), name, in)
	if err != nil {
		return view, err
	}
	view.From, view.FromName, view.ThreadID = in.Account.Email, in.Account.DisplayName, latest.ID
	view.To, view.Subject, view.Body, view.InReplyTo, view.References = nd.To, nd.Subject, nd.Body, nd.InReplyTo, nd.References
	return view, nil
}
