/**
 * `@chatkit-lambda/web`: the page side of a ChatKit backend. Framework-free; React pieces are
 * in `@chatkit-lambda/web/react`, the Next.js route handler in `@chatkit-lambda/web/next`.
 */
export {
  createChatKitFetch,
  boundUserInfo,
  ChatKitUnauthorizedError,
  TURN_REQUEST_TYPES,
  TURN_ID_HEADER,
  DEFAULT_MAX_CONTEXT_BYTES,
  type ChatKitFetchOptions,
  type UserInfo,
} from "./fetch.js";
export { OPERATION_FUNCTIONS, routeFor, type ChatKitRoutes, type FunctionName } from "./routes.js";
export {
  getPageContext,
  boundPageContext,
  DEFAULT_PAGE_CONTEXT_LIMITS,
  type PageContext,
  type PageContextLimits,
  type PageContextOptions,
} from "./page-context.js";
export {
  watchSelection,
  readSelection,
  askAboutSelectionMessage,
  clearSelection,
  DEFAULT_SELECTION_MAX_LENGTH,
  type SelectionSnapshot,
  type SelectionOptions,
} from "./selection.js";
export {
  loadChatKitScript,
  chatKitScriptStatus,
  ChatKitScriptError,
  CHATKIT_SCRIPT_URL,
  CHATKIT_ELEMENT,
  CHATKIT_SCRIPT_FAILED_ATTRIBUTE,
  CHATKIT_SCRIPT_ATTRIBUTE,
  DEFAULT_SCRIPT_TIMEOUT_MS,
  type ChatKitScriptStatus,
  type ChatKitScriptOptions,
} from "./script.js";
export {
  whenChatKitMounted,
  ChatKitNotMountedError,
  DEFAULT_MOUNT_TIMEOUT_MS,
  type ChatKitElementRef,
  type WhenChatKitMountedOptions,
} from "./chatkit-element.js";
