// Ids in the order they came, taken oldest first: the store's failed handshakes, evicted past their cap. An id may
// name a record already gone (the byte budget evicts too); the caller skips those.
export class IdQueue {
  #ids: string[] = [];
  #head = 0;

  push(id: string): void {
    this.#ids.push(id);
  }

  shift(): string | undefined {
    if (this.#head >= this.#ids.length) return undefined;
    const id = this.#ids[this.#head++];
    // Compact once the dead prefix is half the array: amortised O(1) per id.
    if (this.#head > 1024 && this.#head * 2 > this.#ids.length) {
      this.#ids = this.#ids.slice(this.#head);
      this.#head = 0;
    }
    return id;
  }
}
