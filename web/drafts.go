package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	outreach "github.com/outreach/outreach"
	"github.com/outreach/outreach/classify"
	"github.com/outreach/outreach/store"
)

// draftView is one draft with everything needed to judge it.
type draftView struct {
	Draft store.DraftView
	Email string // exactly as it will be sent: the headers that matter, then the body
	Why   string // the facts behind the proposal, in words
	// PlannerNote is what the planner recorded when it proposed the draft.
	PlannerNote string
	Original    *original
	Contact     *outreach.Contact
	Window      string // the recipient's send window, in words
	// Form is what the edit form shows: the draft, or after a refused
	// save the applicant's own text, so nothing they typed is lost.
	Form       store.DraftEdit
	Addresses  []string // the contact's addresses, for To
	CanApprove bool
	CanChange  bool // edit or reject: proposed or approved
	CanSettle  bool // in review: the applicant says whether it went out
	Problem    string
}

// original is the applicant's email the draft follows up.
type original struct {
	From, Subject, Text string
	To                  []string
	Date                time.Time
}

func (s *Server) draft(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	v, err := s.draftPage(r.Context(), id)
	if err != nil {
		return err
	}
	s.render(w, r, sess, http.StatusOK, "draft", draftTitle(v.Draft), v)
	return nil
}

func draftTitle(d store.DraftView) string {
	return "Follow-up to " + nameOr(d.ContactName, d.Contact)
}

// draftPage gathers the draft, the email it follows up, the contact card
// and the reason the planner proposed it.
func (s *Server) draftPage(ctx context.Context, id int64) (draftView, error) {
	d, err := s.cfg.Store.Draft(ctx, id)
	if err != nil {
		return draftView{}, err
	}
	v := draftView{Draft: d, Email: renderEmail(d), Form: store.DraftEdit{To: d.To, Subject: d.Subject, Body: d.Body},
		CanApprove: d.State == outreach.DraftProposed,
		CanChange:  d.State == outreach.DraftProposed || d.State == outreach.DraftApproved,
		CanSettle:  d.State == outreach.DraftReview}
	if c, err := s.cfg.Store.ContactByAddress(ctx, d.Contact); err == nil {
		v.Contact, v.Addresses = &c, c.Addresses
		v.Window = sendWindow(s.cfg.Policy.With(c.Policy), c.Timezone)
	} else if !outreach.IsKind(err, outreach.KindNotFound) {
		return v, err
	}
	in, err := s.cfg.Store.LoadPlanInput(ctx, d.ThreadID)
	if err != nil {
		return v, err
	}
	v.Original = originalOf(in, d)
	v.Why = s.whyProposed(in, d, v.Original)
	if v.PlannerNote, err = s.plannerNote(ctx, d); err != nil {
		return v, err
	}
	return v, nil
}

// originalOf finds the email the draft answers: the one In-Reply-To
// names, else the applicant's latest in the thread.
func originalOf(in store.PlanInput, d store.DraftView) *original {
	var found *store.HistoryMessage
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Direction != outreach.Outbound {
			continue
		}
		if m.MessageID == d.InReplyTo {
			found = m
			break
		}
		found = m
	}
	if found == nil {
		return nil
	}
	return &original{From: found.From, To: found.To, Subject: found.Subject, Date: found.Date,
		Text: classify.Text(found.Raw)}
}

// whyProposed says the facts the planner acted on: how long the contact
// has been silent, the policy that makes that a reason, and whatever else
// came back in the thread.
func (s *Server) whyProposed(in store.PlanInput, d store.DraftView, orig *original) string {
	if orig == nil {
		return ""
	}
	p := s.cfg.Policy.With(in.Contact.Policy).Effective()
	unit := "days"
	if p.BusinessDays {
		unit = "working days"
	}
	silent := int(d.CreatedAt.Sub(orig.Date).Hours() / 24)
	why := fmt.Sprintf("%s had not answered your email of %s when this draft was written, %s later; "+
		"your policy proposes one follow-up after %d %s of silence.",
		in.Contact.Name(), s.day(orig.Date), plural(silent, "day"), p.FollowUpAfterDays, unit)
	var came []string
	for _, m := range in.Messages {
		if m.Direction == outreach.Inbound && m.Kind != nil && m.Date.After(orig.Date) {
			came = append(came, messageTitle(*m.Kind, m.From)+" on "+s.day(m.Date))
		}
	}
	if len(came) == 0 {
		return why + " Nothing came back in this thread: no reply, no automatic reply, no bounce."
	}
	return why + " Also in this thread: " + strings.Join(came, "; ") + "."
}

// plannerNote is the planner's evidence when it proposed this draft: the
// state change recorded with the proposal, else the thread's last decision.
func (s *Server) plannerNote(ctx context.Context, d store.DraftView) (string, error) {
	events, err := s.cfg.Store.Events(ctx, store.EventFilter{ThreadID: d.ThreadID})
	if err != nil {
		return "", err
	}
	why := ""
	for _, e := range events {
		if e.At.After(d.CreatedAt) {
			break
		}
		if ev, ok := e.Detail["evidence"].(string); ok && e.Type == "state_changed" && ev != "" &&
			(e.ToState == string(outreach.ThreadFollowUpDue) || e.ToState == string(outreach.ThreadDraftProposed)) {
			why = ev
		}
	}
	if why == "" {
		why = d.Reason
	}
	return why, nil
}

// renderEmail shows a draft as the recipient will get it (the CLI's
// `drafts show` prints the same).
func renderEmail(d store.DraftView) string { return d.Text() }

// sendWindow says when mail may go out to this contact, on their clock.
func sendWindow(p outreach.Policy, tz string) string {
	if tz == "" {
		tz = "the account's time zone"
	}
	days := strings.Join(p.SendDays, ", ")
	if strings.Join(p.SendDays, ",") == "mon,tue,wed,thu,fri" {
		days = "Monday to Friday"
	}
	return fmt.Sprintf("%s, %s to %s (%s)", days, p.SendStart, p.SendEnd, tz)
}

// formVersion is the version the applicant saw, from the form.
func formVersion(r *http.Request) (int, error) {
	v, err := strconv.Atoi(r.PostFormValue("version"))
	if err != nil || v <= 0 {
		return 0, outreach.Errorf(outreach.KindInvalid, "the form has no draft version: reload the page")
	}
	return v, nil
}

func (s *Server) approveDraft(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	version, err := formVersion(r)
	if err != nil {
		return err
	}
	rev, err := s.cfg.Planner.Review(r.Context(), id, store.ReviewApprove, version, "", s.cfg.Now())
	if outreach.IsKind(err, outreach.KindConflict) {
		return s.draftRefused(w, r, sess, id, nil, "Not approved: "+err.Error())
	}
	if err != nil {
		return err
	}
	if rev.Refused != "" {
		return s.draftRefused(w, r, sess, id, nil, "Not approved: "+rev.Refused)
	}
	d := rev.Draft
	return redirect(w, r, "/", "ok", fmt.Sprintf("Approved version %d of the follow-up to %s. It goes out in their send window.",
		d.Version, nameOr(d.ContactName, d.To)))
}

// draftRefused shows the draft again as it is now, with why the action
// was refused (409), and the applicant's edit when there was one.
func (s *Server) draftRefused(w http.ResponseWriter, r *http.Request, sess *session, id int64, edit *store.DraftEdit,
	problem string) error {
	v, err := s.draftPage(r.Context(), id)
	if err != nil {
		return err
	}
	v.Problem = problem
	if edit != nil {
		v.Form = *edit
	}
	s.render(w, r, sess, http.StatusConflict, "draft", draftTitle(v.Draft), v)
	return nil
}

func (s *Server) rejectDraft(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.reject(w, r, sess, store.ReviewReject)
}

func (s *Server) redraftDraft(w http.ResponseWriter, r *http.Request, sess *session) error {
	return s.reject(w, r, sess, store.ReviewRedraft)
}

func (s *Server) reject(w http.ResponseWriter, r *http.Request, sess *session, action store.ReviewAction) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	rev, err := s.cfg.Planner.Review(r.Context(), id, action, 0, strings.TrimSpace(r.PostFormValue("note")), s.cfg.Now())
	if outreach.IsKind(err, outreach.KindConflict) {
		return s.draftRefused(w, r, sess, id, nil, "Nothing changed: "+err.Error())
	}
	if err != nil {
		return err
	}
	who := nameOr(rev.Draft.ContactName, rev.Draft.To)
	switch {
	case action == store.ReviewReject:
		return redirect(w, r, "/", "ok", fmt.Sprintf("No follow-up to %s: the thread is closed (%s).",
			who, threadStateLabel(rev.ThreadState)))
	case rev.NewDraftID != 0:
		return redirect(w, r, fmt.Sprintf("/drafts/%d", rev.NewDraftID), "ok",
			"Here is a new draft, written afresh from the template. The old one was discarded.")
	}
	return redirect(w, r, threadLink(rev.Draft.ThreadID), "error",
		"The old draft was discarded, but no new one could be written: "+rev.DraftError)
}

// settleDraft records whether a draft in review went out (outcome "sent"
// or "not-sent"), as `outreach drafts settle` does.
func (s *Server) settleDraft(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	outcome := r.PostFormValue("outcome")
	if outcome != "sent" && outcome != "not-sent" {
		return outreach.Errorf(outreach.KindInvalid, "outcome %q: sent or not-sent", outcome)
	}
	err = s.cfg.Store.SettleReview(r.Context(), id, outcome == "sent", strings.TrimSpace(r.PostFormValue("note")), s.cfg.Now())
	if outreach.IsKind(err, outreach.KindConflict) {
		return s.draftRefused(w, r, sess, id, nil, "Nothing changed: "+err.Error())
	}
	if err != nil {
		return err
	}
	d, err := s.cfg.Store.Draft(r.Context(), id)
	if err != nil {
		return err
	}
	msg := fmt.Sprintf("Recorded: the follow-up to %s went out. It counts as the one follow-up of this thread.",
		nameOr(d.ContactName, d.To))
	if outcome == "not-sent" {
		msg = fmt.Sprintf("Recorded: the follow-up to %s did not go out, and will not be resent. "+
			"The thread waits for you: resume it to have a follow-up proposed again, or close it.", nameOr(d.ContactName, d.To))
	}
	return redirect(w, r, threadLink(d.ThreadID), "ok", msg)
}

func (s *Server) editDraft(w http.ResponseWriter, r *http.Request, sess *session) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	version, err := formVersion(r)
	if err != nil {
		return err
	}
	// Browsers send CRLF in a textarea; the draft keeps the LF the
	// templates write, and the mailer makes the line ends SMTP wants.
	edit := store.DraftEdit{To: strings.TrimSpace(r.PostFormValue("to")),
		Subject: strings.TrimSpace(r.PostFormValue("subject")),
		Body:    strings.ReplaceAll(r.PostFormValue("body"), "\r\n", "\n")}
	if edit.Subject == "" || strings.TrimSpace(edit.Body) == "" {
		return s.draftRefused(w, r, sess, id, &edit, "Not saved: the subject and the text must not be empty. "+
			"To send nothing, choose \"Don't follow up\".")
	}
	d, err := s.cfg.Store.Draft(r.Context(), id)
	if err != nil {
		return err
	}
	if edit == (store.DraftEdit{To: d.To, Subject: d.Subject, Body: d.Body}) && version == d.Version {
		return redirect(w, r, draftLink(id), "ok", "Nothing to save: the draft is unchanged.")
	}
	newVersion, err := s.cfg.Store.EditDraft(r.Context(), id, version, edit)
	if kind := outreach.KindOf(err); kind == outreach.KindConflict || kind == outreach.KindInvalid {
		return s.draftRefused(w, r, sess, id, &edit, "Not saved: "+err.Error()+
			". Your text is still in the form below; compare it with the draft as it is now.")
	}
	if err != nil {
		return err
	}
	return redirect(w, r, draftLink(id), "ok", fmt.Sprintf(
		"Saved as version %d. Read it once more, then approve it; any earlier approval no longer counts.", newVersion))
}

// pathID reads the {id} of the URL.
func pathID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, outreach.Errorf(outreach.KindNotFound, "%q is not an id", r.PathValue("id"))
	}
	return id, nil
}

func draftLink(id int64) string   { return fmt.Sprintf("/drafts/%d", id) }
func threadLink(id int64) string  { return fmt.Sprintf("/threads/%d", id) }
func contactLink(id int64) string { return fmt.Sprintf("/contacts/%d", id) }
