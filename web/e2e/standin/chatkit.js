// A stand-in for OpenAI's <openai-chatkit> web component, whose runtime exists only on
// OpenAI's CDN (unreachable from tests): the browser tests serve this file in place of
// chatkit.js. It speaks the real ChatKit protocol through `options.api.fetch` (so the
// package's interceptor adds credentials and context) against the real function, and renders
// what comes back, each SSE text delta as it arrives. It has what the tests use of the real
// element's API: setOptions, sendUserMessage, sendCustomAction, setThreadId, fetchUpdates,
// focusComposer, and the chatkit.* events. Its paperclip does two-phase uploads
// (`uploadStrategy: {type: "two_phase"}`): attachments.create through `api.fetch`, then the
// bytes PUT with plain fetch to the returned upload_descriptor (a presigned S3 URL, which must
// not get the bearer token). While a reply streams, its Stop button aborts the turn's request
// (the `signal` it gave `api.fetch`) and leaves the partial reply on the screen, marked
// `data-status="stopped"`.
// Widget items are rendered minimally but from the real tree: each component a <div
// data-widget-type="…"> (text-bearing ones — Title, Caption, Text, Markdown, Badge, Label… —
// with their `value` or `label` as text, Markdown unrendered), each Button a <button>; the
// widget streaming updates apply to the tree. A button's `onClickAction` goes to the server as
// `threads.custom_action` (item id, thread id; `streaming: false`: `threads.sync_custom_action`)
// and streams like a turn, or to `widgets.onAction` with `handler: "client"`; action buttons
// are disabled while a response runs. `client_effect` becomes the `chatkit.effect` event
// ({name, data}), a `notice` shows in the `data-notice` box (`data-level`).
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

  /** The item types shown, and their `data-role`. */
  const ROLES = { user_message: "user", assistant_message: "assistant", widget: "widget" };

  const childrenOf = (component) => [component?.children ?? []].flat().filter((c) => c && typeof c === "object");

  /** Every component of a widget tree, the root first. */
  function* components(node) {
    yield node;
    for (const child of childrenOf(node)) yield* components(child);
  }

  /** Applies a `widget.*` item update to `item.widget` (docs/protocol.md 4.3). */
  const updateWidget = (item, update) => {
    if (update.type === "widget.root.updated") {
      item.widget = update.widget;
      return;
    }
    for (const node of components(item.widget)) {
      if (update.type === "widget.streaming_text.value_delta" && node.id === update.component_id) {
        node.value = (node.value ?? "") + update.delta;
      } else if (update.type === "widget.component.updated") {
        if (node.children?.id === update.component_id) node.children = update.component;
        const at = Array.isArray(node.children) ? node.children.findIndex((c) => c?.id === update.component_id) : -1;
        if (at !== -1) node.children[at] = update.component;
      }
    }
  };

  class ChatKitStandIn extends HTMLElement {
    #options = null;
    #threadId = null;
    #dom = null;
    #items = new Map();
    #widgets = new Map(); // widget items by id, their trees updated in place
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
      const notice = el("p", { "data-notice": "", role: "status", hidden: "" });
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
      root.append(threads, items, notice, error, form);
      this.replaceChildren(root);
      this.#dom = { root, threads, items, notice, error, input, chips, stop };
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
        this.#widgets.clear();
        this.#build().items.replaceChildren();
        this.#emit("chatkit.thread.change", { threadId: null });
        return;
      }
      this.#emit("chatkit.thread.load.start", { threadId });
      try {
        const thread = await this.#json({ type: "threads.get_by_id", params: { thread_id: threadId } });
        this.#threadId = thread.id;
        this.#items.clear();
        this.#widgets.clear();
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
      await this.#respond(body);
    }

    /** A widget action sent to the server (`itemId`: the widget item that fired it). */
    async sendCustomAction(action, itemId) {
      if (!this.#threadId) throw new Error("sendCustomAction needs a thread");
      const params = { thread_id: this.#threadId, item_id: itemId, action: { type: action.type, payload: action.payload } };
      if (action.streaming === false) {
        const answer = await this.#json({ type: "threads.sync_custom_action", params });
        if (answer.updated_item) this.#render(answer.updated_item, "done");
        return;
      }
      await this.#respond({ type: "threads.custom_action", params });
    }

    /** Sends a streamed request and renders its events; the Stop button aborts it. */
    async #respond(body) {
      const { error: box, notice, stop } = this.#build();
      box.hidden = true;
      notice.hidden = true;
      const running = new AbortController();
      this.#running = running;
      this.#lockActions();
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
        this.#lockActions();
        stop.hidden = true;
        this.#emit("chatkit.response.end");
      }
    }

    /** Action buttons are disabled while a response runs (and when their component says so). */
    #lockActions() {
      for (const button of this.#build().items.querySelectorAll("button[data-action]")) {
        button.disabled = Boolean(this.#running) || button.hasAttribute("data-disabled");
      }
    }

    #act(action, item) {
      if (this.#running) return;
      if (action.handler === "client") {
        const fired = this.#options?.widgets?.onAction?.({ type: action.type, payload: action.payload }, { id: item.id, widget: item.widget });
        Promise.resolve(fired).catch((error) => this.#fail(error));
        return;
      }
      this.sendCustomAction(action, item.id).catch((error) => this.#fail(error));
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
      const role = ROLES[item.type];
      let node = this.#items.get(item.id);
      if (!role) {
        // not shown (a replacement may change an item's type: what showed goes)
        node?.remove();
        this.#items.delete(item.id);
        return;
      }
      if (!node) {
        node = el("li", { "data-item-id": item.id });
        this.#items.set(item.id, node);
        this.#build().items.append(node);
      }
      node.setAttribute("data-role", role);
      if (item.type === "widget") {
        this.#widgets.set(item.id, item);
        node.replaceChildren(this.#component(item.widget, item));
        node.setAttribute("data-status", status);
        return;
      }
      this.#widgets.delete(item.id);
      node.textContent = itemText(item);
      for (const attachment of item.attachments ?? []) {
        const shown = attachment.type === "image"
          ? el("img", { alt: attachment.name, src: attachment.preview_url, "data-attachment-preview": attachment.id })
          : el("span", { "data-attachment-file": attachment.id }, attachment.name);
        node.append(shown);
      }
      node.setAttribute("data-status", status);
    }

    /** One widget component (and its children) of widget item `item`. */
    #component(component, item) {
      const attrs = { "data-widget-type": component.type };
      if (component.id) attrs["data-widget-id"] = component.id;
      if (component.type === "Button") {
        const button = el("button", { ...attrs, type: "button" }, component.label ?? "");
        const action = component.onClickAction;
        if (action) {
          button.setAttribute("data-action", action.type);
          button.addEventListener("click", () => this.#act(action, item));
        }
        if (component.disabled || !action) button.setAttribute("data-disabled", "");
        button.disabled = Boolean(this.#running) || button.hasAttribute("data-disabled");
        return button;
      }
      if (component.type === "Image") return el("img", { ...attrs, src: component.src, alt: component.alt ?? "" });
      if (component.type === "Icon") return el("span", { ...attrs, "data-icon": component.name });
      const text = [component.value, component.label].find((t) => typeof t === "string");
      const node = el("div", attrs, text);
      for (const child of childrenOf(component)) node.append(this.#component(child, item));
      return node;
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
          const widget = this.#widgets.get(event.item_id);
          if (node && event.update?.type === "assistant_message.content_part.text_delta") {
            node.textContent += event.update.delta;
          } else if (node && widget && event.update?.type?.startsWith("widget.")) {
            updateWidget(widget, event.update);
            this.#render(widget, node.getAttribute("data-status"));
          }
          break;
        }
        case "thread.item.removed":
          this.#items.get(event.item_id)?.remove();
          this.#items.delete(event.item_id);
          this.#widgets.delete(event.item_id);
          break;
        case "client_effect":
          this.#emit("chatkit.effect", { name: event.name, data: event.data });
          break;
        case "notice": {
          const { notice } = this.#build();
          notice.hidden = false;
          notice.setAttribute("data-level", event.level);
          notice.textContent = event.title ? `${event.title}: ${event.message}` : event.message;
          break;
        }
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
