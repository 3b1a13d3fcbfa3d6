// The demo page: ChatKit from OpenAI's CDN, wired to the local functions with this package:
// with `config.routes` (the split backend), each request goes to the function that serves it.
import {
  askAboutSelectionMessage,
  clearSelection,
  createChatKitFetch,
  loadChatKitScript,
  watchSelection,
} from "/kit/index.js";

const status = document.getElementById("chat-status");
const slot = document.getElementById("chat-slot");
const askButton = document.getElementById("ask");
const config = await (await fetch(`/config.json${location.search}`)).json();
document.getElementById("who").textContent = `Signed in as ${config.user.name} (dev token)`;

async function start() {
  status.dataset.state = "pending";
  status.textContent = "Loading the chat…";
  try {
    await loadChatKitScript({ reload: status.dataset.failed === "1" });
  } catch (error) {
    status.dataset.state = "error";
    status.dataset.failed = "1";
    status.textContent = `The chat is unavailable: ${error.message}. `;
    const retry = document.createElement("button");
    retry.type = "button";
    retry.textContent = "Retry";
    retry.onclick = start;
    status.append(retry);
    return;
  }
  status.dataset.state = "ready";
  status.textContent = "";
  const chat = document.createElement("openai-chatkit");
  slot.replaceChildren(chat);
  chat.setOptions({
    api: {
      url: config.url,
      domainKey: config.domainKey,
      fetch: createChatKitFetch({
        getToken: () => config.token,
        userInfo: config.user,
        onUnauthorized: () => location.reload(),
        routes: config.routes,
      }),
    },
    history: { enabled: true },
    startScreen: { greeting: `Hi ${config.user.name}, ask about this page.` },
  });

  // Selection "Ask" without React: watchSelection + the same message as <SelectionAskButton>.
  let selected = null;
  watchSelection((selection) => {
    selected = selection;
    askButton.hidden = !selection;
    if (selection?.rect) {
      askButton.style.top = `${Math.min(selection.rect.bottom + 8, innerHeight - 40)}px`;
      askButton.style.left = `${Math.max(8, selection.rect.left)}px`;
    }
  });
  askButton.addEventListener("mousedown", (event) => event.preventDefault());
  askButton.addEventListener("click", async () => {
    if (!selected) return;
    await chat.sendUserMessage({ text: askAboutSelectionMessage(selected.text, document.title) });
    clearSelection();
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape") askButton.hidden = true;
  });
}

start();
