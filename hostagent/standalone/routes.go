package standalone

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// OpenAPI is the API's description, served at /openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte

// maxBody bounds request bodies.
const maxBody = 1 << 20

// route is one operation; the OpenAPI file lists exactly these.
type route struct {
	method, path string
	handle       func(s *Server, w http.ResponseWriter, r *http.Request)
}

var routes = []route{
	{"GET", "/healthz", (*Server).health},
	{"GET", "/openapi.yaml", (*Server).openapi},
	{"GET", "/v1/attacks", (*Server).handleListAttacks},
	{"POST", "/v1/attacks", (*Server).handleCreateAttack},
	{"GET", "/v1/attacks/{id}", (*Server).handleGetAttack},
	{"POST", "/v1/attacks/{id}/recover", (*Server).handleRecover},
	{"GET", "/v1/schedules", (*Server).handleListSchedules},
	{"POST", "/v1/schedules", (*Server).handleCreateSchedule},
	{"GET", "/v1/schedules/{id}", (*Server).handleGetSchedule},
	{"PUT", "/v1/schedules/{id}", (*Server).handlePutSchedule},
	{"DELETE", "/v1/schedules/{id}", (*Server).handleDeleteSchedule},
	{"POST", "/v1/apply", (*Server).handleApply},
}

// Handler returns the API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.method+" "+rt.path, func(w http.ResponseWriter, r *http.Request) { rt.handle(s, w, r) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, Error{Error: "no such endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(OpenAPI)
}

func (s *Server) handleListAttacks(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.listAttacks())
}

func (s *Server) handleCreateAttack(w http.ResponseWriter, r *http.Request) {
	var req AttackRequest
	if !readJSON(w, r, &req) {
		return
	}
	d, fe := s.validateAttack(r.Context(), "", &req, "duration")
	if fe != nil {
		writeError(w, fe)
		return
	}
	s.mu.Lock()
	a, err := s.startAttackLocked(r.Context(), &req, d, "")
	var view *Attack
	if a != nil {
		view = s.viewLocked(a)
	}
	s.mu.Unlock()
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Location", "/v1/attacks/"+a.ID)
	writeJSON(w, http.StatusCreated, view)
}

func (s *Server) handleGetAttack(w http.ResponseWriter, r *http.Request) {
	a, ok := s.getAttack(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, Error{Error: "no attack " + r.PathValue("id")})
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func (s *Server) handleRecover(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !validID(id) {
		writeError(w, fieldErr("id", "%q is not an attack ID", id))
		return
	}
	res, err := s.recoverAttack(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func (s *Server) handleListSchedules(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.listSchedules())
}

func (s *Server) handleCreateSchedule(w http.ResponseWriter, r *http.Request) {
	s.writeSchedule(w, r, "")
}

func (s *Server) handlePutSchedule(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.getSchedule(r.PathValue("id")); !ok {
		writeJSON(w, http.StatusNotFound, Error{Error: "no schedule " + r.PathValue("id")})
		return
	}
	s.writeSchedule(w, r, r.PathValue("id"))
}

func (s *Server) writeSchedule(w http.ResponseWriter, r *http.Request, id string) {
	var req ScheduleRequest
	if !readJSON(w, r, &req) {
		return
	}
	if fe := s.validateSchedule(r.Context(), &req); fe != nil {
		writeError(w, fe)
		return
	}
	sc, err := s.putSchedule(id, &req)
	switch {
	case err != nil:
		writeError(w, err)
	case sc == nil:
		writeJSON(w, http.StatusNotFound, Error{Error: "no schedule " + id})
	case id == "":
		w.Header().Set("Location", "/v1/schedules/"+sc.ID)
		writeJSON(w, http.StatusCreated, sc)
	default:
		writeJSON(w, http.StatusOK, sc)
	}
}

func (s *Server) handleGetSchedule(w http.ResponseWriter, r *http.Request) {
	sc, ok := s.getSchedule(r.PathValue("id"))
	if !ok {
		writeJSON(w, http.StatusNotFound, Error{Error: "no schedule " + r.PathValue("id")})
		return
	}
	writeJSON(w, http.StatusOK, sc)
}

func (s *Server) handleDeleteSchedule(w http.ResponseWriter, r *http.Request) {
	found, err := s.deleteSchedule(r.Context(), r.PathValue("id"))
	switch {
	case err != nil:
		writeError(w, err)
	case !found:
		writeJSON(w, http.StatusNotFound, Error{Error: "no schedule " + r.PathValue("id")})
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// applyTypes are the bodies apply takes. None is a type a browser may send
// cross-site without asking first, so a web page cannot apply faults
// through the loopback API.
var applyTypes = []string{"application/yaml", "application/x-yaml", "application/json"}

func (s *Server) handleApply(w http.ResponseWriter, r *http.Request) {
	ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";")
	if !slices.Contains(applyTypes, strings.TrimSpace(ct)) {
		writeError(w, &FieldError{Msg: "Content-Type must be one of " + strings.Join(applyTypes, ", ") + ", not " + strconv.Quote(ct)})
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, &FieldError{Msg: "body: " + err.Error()})
		return
	}
	res, err := s.apply(r.Context(), data)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, res)
}

// readJSON decodes a JSON body strictly, answering 400 on failure. The
// body must say it is JSON: a browser cannot send that cross-site without
// a preflight this API never grants.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); strings.TrimSpace(ct) != "application/json" {
		writeError(w, &FieldError{Msg: "Content-Type must be application/json, not " + strconv.Quote(ct)})
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, &FieldError{Msg: "body: " + err.Error()})
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		writeError(w, &FieldError{Msg: "body: empty; want a JSON object"})
		return false
	}
	if fe := strictDecode(data, v); fe != nil {
		writeError(w, fe)
		return false
	}
	return true
}

// writeError answers 400 for a FieldError, 503 while stopping, else 500.
func writeError(w http.ResponseWriter, err error) {
	var fe *FieldError
	switch {
	case errors.As(err, &fe):
		writeJSON(w, http.StatusBadRequest, Error{Error: fe.Error(), Field: fe.Field})
	case errors.Is(err, errClosed), errors.Is(err, context.Canceled):
		writeJSON(w, http.StatusServiceUnavailable, Error{Error: err.Error()})
	default:
		writeJSON(w, http.StatusInternalServerError, Error{Error: err.Error()})
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
