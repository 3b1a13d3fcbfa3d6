// A stand-in for OpenAI's <openai-chatkit> web component, whose runtime exists only on
// OpenAI's CDN (unreachable from tests): the browser tests serve this file in place of
// chatkit.js. It speaks the real ChatKit protocol through `options.api.fetch` (so the
// package's interceptor adds credentials and context) against the real function, and renders
// what comes back, each SSE text delta as it arrives. It has what the tests use of the real
// element's API: setOptions, sendUserMessage, setThreadId, fetchUpdates, focusComposer, and
// the chatkit.* events. Its paperclip does two-phase uploads (`uploadStrategy: {type:
// "two_phase"}`): attachments.create through `api.fetch`, then the bytes PUT with plain fetch
// to the returned upload_descriptor (a presigned S3 URL, which must not get the bearer token).
// While a reply streams, its Stop button aborts the turn's request (the `signal` it gave
// `api.fetch`) and leaves the partial reply on the screen, marked `data-status="stopped"`.
(() => {
  if (customElements.get("openai-chatkit")) return;

  const el = (tag, attrs = {}, text) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  };

  const itemText = (item) =>
    (item.content ?? [])
      .map((part) => part.text ?? "")
      .join("");

  class ChatKitStandIn extends HTMLElement {
    #options = null;
    #threadId = null;
    #dom = null;
    #items = new Map();
    #attachments = [];
    #running = null; // the AbortController of the streaming turn

    connectedCallback() {
      this.#build();
    }

    #build() {
      if (this.#dom) return this.#dom;
      const root = el("section", { "data-standin": "" });
      const threads = el("nav", { "data-threads": "", "aria-label": "Threads" });
      const items = el("ol", { "data-items": "" });
      const error = el("p", { "data-error": "", role: "alert", hidden: "" });
      const form = el("form", { "data-composer": "" });
      const input = el("textarea", { "aria-label": "Message", rows: "2" });
      const send = el("button", { type: "submit" }, "Send");
      const stop = el("button", { type: "button", "data-stop": "", hidden: "" }, "Stop");
      stop.addEventListener("click", () => this.#running?.abort());
      const attach = el("input", { type: "file", "aria-label": "Attach", multiple: "" });
      const chips = el("ul", { "data-attachments": "" });
      attach.addEventListener("change", () => {
        const files = [...attach.files];
        attach.value = "";
        for (const file of files) this.#upload(file).catch((error) => this.#fail(error));
      });
      form.append(chips, attach, input, send, stop);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        input.value = "";
        this.sendUserMessage({ text });
      });
      root.append(threads, items, error, form);
      this.replaceChildren(root);
      this.#dom = { root, threads, items, error, input, chips, stop };
      return this.#dom;
    }

    #emit(name, detail = {}) {
      this.dispatchEvent(new CustomEvent(name, { detail }));
    }

    #fail(error) {
      const { error: box } = this.#build();
      box.hidden = false;
      box.textContent = error?.message ?? String(error);
      this.#emit("chatkit.error", { error });
    }

    async #request(body, signal) {
      const api = this.#options?.api;
      if (!api?.url) throw new Error("setOptions({ api: { url } }) first");
      const fetcher = api.fetch ?? window.fetch.bind(window);
      const response = await fetcher(api.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
        body: JSON.stringify(body),
        signal,
      });
      if (!response.ok) {
        const text = await response.text();
        throw new Error(`HTTP ${response.status}: ${text}`);
      }
      return response;
    }

    async #json(body) {
      return (await this.#request(body)).json();
    }

    /** Two-phase upload: create (JSON, through api.fetch), then PUT the bytes where told. */
    async #upload(file) {
      const chip = el("li", { "data-attachment": file.name, "data-state": "creating" }, file.name);
      this.#build().chips.append(chip);
      const attachment = await this.#json({
        type: "attachments.create",
        params: { name: file.name, size: file.size, mime_type: file.type },
      });
      chip.setAttribute("data-state", "uploading");
      const { url, method, headers } = attachment.upload_descriptor;
      const put = await window.fetch(url, { method, headers, body: file });
      if (!put.ok) throw new Error(`upload of ${file.name}: HTTP ${put.status}`);
      if (attachment.type === "image") chip.append(el("img", { alt: file.name, src: attachment.preview_url }));
      chip.setAttribute("data-state", "uploaded");
      this.#attachments.push(attachment.id);
    }

    // ---- the element's API, as in @openai/chatkit's OpenAIChatKit ----

    setOptions(options) {
      this.#options = options;
      this.#build();
      this.#emit("chatkit.ready");
      this.#loadThreads().catch((error) => this.#fail(error));
      if (options.initialThread) this.setThreadId(options.initialThread);
    }

    async focusComposer() {
      this.#build().input.focus();
    }

    async setComposerValue({ text } = {}) {
      this.#build().input.value = text ?? "";
    }

    async setThreadId(threadId) {
      if (!threadId) {
        this.#threadId = null;
        this.#items.clear();
        this.#build().items.replaceChildren();
        this.#emit("chatkit.thread.change", { threadId: null });
        return;
      }
      this.#emit("chatkit.thread.load.start", { threadId });
      try {
        const thread = await this.#json({ type: "threads.get_by_id", params: { thread_id: threadId } });
        this.#threadId = thread.id;
        this.#items.clear();
        this.#build().items.replaceChildren();
        for (const item of thread.items?.data ?? []) this.#render(item, "done");
        this.#emit("chatkit.thread.change", { threadId });
      } catch (error) {
        this.#fail(error);
      } finally {
        this.#emit("chatkit.thread.load.end", { threadId });
      }
    }

    async fetchUpdates() {
      if (this.#threadId) await this.setThreadId(this.#threadId);
    }

    async showHistory() {
      await this.#loadThreads();
    }

    async hideHistory() {}

    async sendUserMessage({ text, newThread } = {}) {
      if (newThread) await this.setThreadId(null);
      const attachments = this.#attachments.splice(0);
      this.#build().chips.replaceChildren();
      const input = { content: [{ type: "input_text", text }], attachments, quoted_text: null, inference_options: {} };
      const body = this.#threadId
        ? { type: "threads.add_user_message", params: { thread_id: this.#threadId, input } }
        : { type: "threads.create", params: { input } };
      const { error: box, stop } = this.#build();
      box.hidden = true;
      const running = new AbortController();
      this.#running = running;
      stop.hidden = false;
      this.#emit("chatkit.response.start");
      try {
        await this.#stream(await this.#request(body, running.signal));
        await this.#loadThreads();
      } catch (error) {
        if (running.signal.aborted) {
          // stopped by the user: the reply so far stays
          for (const node of this.#items.values()) {
            if (node.getAttribute("data-status") === "streaming") node.setAttribute("data-status", "stopped");
          }
        } else {
          this.#fail(error);
        }
      } finally {
        if (this.#running === running) this.#running = null;
        stop.hidden = true;
        this.#emit("chatkit.response.end");
      }
    }

    // ---- rendering ----

    async #loadThreads() {
      const page = await this.#json({ type: "threads.list", params: { limit: 20, order: "desc" } });
      const { threads } = this.#build();
      threads.replaceChildren(
        ...page.data.map((thread) => {
          const button = el("button", { type: "button", "data-thread-id": thread.id }, thread.title ?? "New chat");
          button.addEventListener("click", () => this.setThreadId(thread.id));
          return button;
        }),
      );
      threads.setAttribute("data-loaded", String(page.data.length));
    }

    #render(item, status) {
      if (item.type !== "user_message" && item.type !== "assistant_message") return;
      let node = this.#items.get(item.id);
      if (!node) {
        node = el("li", { "data-item-id": item.id, "data-role": item.type === "user_message" ? "user" : "assistant" });
        this.#items.set(item.id, node);
        this.#build().items.append(node);
      }
      node.textContent = itemText(item);
      for (const attachment of item.attachments ?? []) {
        const shown = attachment.type === "image"
          ? el("img", { alt: attachment.name, src: attachment.preview_url, "data-attachment-preview": attachment.id })
          : el("span", { "data-attachment-file": attachment.id }, attachment.name);
        node.append(shown);
      }
      node.setAttribute("data-status", status);
    }

    #apply(event) {
      switch (event.type) {
        case "thread.created":
          this.#threadId = event.thread.id;
          this.#emit("chatkit.thread.change", { threadId: event.thread.id });
          break;
        case "thread.item.added":
          this.#render(event.item, "streaming");
          break;
        case "thread.item.done":
        case "thread.item.replaced":
          this.#render(event.item, "done");
          break;
        case "thread.item.updated": {
          const node = this.#items.get(event.item_id);
          if (node && event.update?.type === "assistant_message.content_part.text_delta") {
            node.textContent += event.update.delta;
          }
          break;
        }
        case "thread.item.removed":
          this.#items.get(event.item_id)?.remove();
          this.#items.delete(event.item_id);
          break;
        case "error":
          this.#fail(new Error(event.message ?? event.code ?? "stream error"));
          break;
        default:
          break;
      }
    }

    async #stream(response) {
      if (!(response.headers.get("content-type") ?? "").startsWith("text/event-stream")) {
        throw new Error(`expected an event stream, got ${response.headers.get("content-type")}`);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffer.indexOf("\n\n")) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split("\n")
            .filter((line) => line.startsWith("data:"))
            .map((line) => line.slice(5).trimStart())
            .join("\n");
          if (data) this.#apply(JSON.parse(data));
        }
      }
    }
  }

  customElements.define("openai-chatkit", ChatKitStandIn);
})();
