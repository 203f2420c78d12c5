package engine

// FloodChannels returns how many channels the bot.flood guard remembers.
func FloodChannels(e *Engine) int {
	e.flood.mu.Lock()
	defer e.flood.mu.Unlock()
	return len(e.flood.channels)
}
