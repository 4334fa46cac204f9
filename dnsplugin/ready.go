package dnsplugin

// Ready implements the ready plugin's Readiness: the packs have loaded.
func (h *Handler) Ready() bool { return h.loaded.Load() && h.view.Load() != nil }
