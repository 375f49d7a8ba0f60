/// A first-in, first-out queue on one array: `append` at the back; `popFirst` advances a
/// head index over the front instead of moving what follows. The consumed front is dropped
/// in bulk: at once when the queue empties, else when more than `compactionThreshold`
/// elements are consumed and they are more than half the storage. Each drop moves fewer
/// elements than were consumed since the last one, so every operation is amortized O(1),
/// and the storage holds at most max(2 × `count`, `count` + `compactionThreshold`)
/// elements (`storageCount`), however long the queue never empties.
///
/// Elements are addressed from the front: `self[0]` is `first`, `self[count - 1]` the
/// last appended; offsets stay valid across compaction.
struct FIFOQueue<Element> {
    private var storage: [Element] = []
    private var head = 0
    /// Consumed elements kept before the front is dropped while the queue is not empty;
    /// also the largest storage kept allocated when the queue empties.
    let compactionThreshold: Int

    init(compactionThreshold: Int = 1024) {
        precondition(compactionThreshold >= 0)
        self.compactionThreshold = compactionThreshold
    }

    /// Elements in the queue.
    var count: Int { storage.count - head }

    var isEmpty: Bool { head == storage.count }

    /// The oldest element, nil when empty.
    var first: Element? { isEmpty ? nil : storage[head] }

    /// Elements the storage holds: the queue's and the consumed front not yet dropped.
    var storageCount: Int { storage.count }

    /// The element `offset` places from the front (0: `first`).
    subscript(offset: Int) -> Element {
        get {
            precondition(offset >= 0 && offset < count, "FIFOQueue offset out of range")
            return storage[head + offset]
        }
        set {
            precondition(offset >= 0 && offset < count, "FIFOQueue offset out of range")
            storage[head + offset] = newValue
        }
    }

    mutating func append(_ element: Element) { storage.append(element) }

    /// Removes and returns the oldest element; nil when empty.
    @discardableResult
    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head == storage.count {
            removeAll(keepingCapacity: storage.count <= compactionThreshold)
        } else if head > compactionThreshold && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Empties the queue, freeing the storage unless `keepingCapacity`.
    mutating func removeAll(keepingCapacity: Bool = false) {
        storage.removeAll(keepingCapacity: keepingCapacity)
        head = 0
    }
}
