extension Array {
    /// `removeAll(keepingCapacity: true)` for the engine's short per-event buffers (the
    /// touched accounts, an order's fills, the changed-account record). Removing a few
    /// elements one by one is a decrement each, where `removeAll(keepingCapacity:)` goes
    /// through the generic `replaceSubrange`: about 60 instructions even when there is
    /// nothing to remove, several times per event (issue 17).
    @inline(__always)
    mutating func empty() {
        if count > 8 {
            removeAll(keepingCapacity: true)
            return
        }
        while !isEmpty { removeLast() }
    }
}
