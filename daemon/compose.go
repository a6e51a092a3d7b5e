package daemon

import (
	"strings"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/store"
	"github.com/outreach/outreach/templates"
)

// TemplateComposer writes follow-ups with the template set: the contact's
// "template" column names the template when it has one, else name. The
// follow-up answers our last email in the thread, to the address that email
// went to, quoting it; its date is shown on the recipient's clock.
func TemplateComposer(set *templates.Set, profile templates.Profile, name string) Composer {
	return func(in store.PlanInput) (store.NewDraft, error) {
		tmpl := name
		if v := strings.TrimSpace(in.Contact.Extra["template"]); v != "" {
			tmpl = v
		}
		return ComposeDraft(set, profile, tmpl, in)
	}
}

// ComposeDraft renders the named template as the follow-up of a thread.
func ComposeDraft(set *templates.Set, profile templates.Profile, name string, in store.PlanInput) (store.NewDraft, error) {
	last := lastOutbound(in)
	if last < 0 {
		return store.NewDraft{}, outreach.Errorf(outreach.KindInvalid, "thread %d has no email of ours to follow up", in.Thread.ID)
	}
	m := in.Messages[last]
	orig := templates.Original{MessageID: m.MessageID, InReplyTo: m.InReplyTo, References: m.Refs,
		Subject: m.Subject, Date: m.Date.In(recipientZone(in)), From: m.From, FromName: m.FromName,
		Text: classify.Text(m.Raw)}
	if orig.FromName == "" {
		orig.FromName = in.Account.DisplayName
	}
	d, err := set.Render(name, templates.Data{To: conversationAddress(in), Contact: in.Contact, Original: orig, Profile: profile})
	if err != nil {
		return store.NewDraft{}, err
	}
	return store.NewDraft{To: d.To, Subject: d.Subject, Body: d.Body, InReplyTo: d.InReplyTo,
		References: d.References, Template: d.Template}, nil
}

// lastOutbound is the index of our latest message in the thread, or -1.
func lastOutbound(in store.PlanInput) int {
	for i := len(in.Messages) - 1; i >= 0; i-- {
		if in.Messages[i].Direction == outreach.Outbound {
			return i
		}
	}
	return -1
}
