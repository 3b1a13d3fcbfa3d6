"use client";
/** React bindings of `@chatkit-lambda/web`: the script gate and the selection Ask. */
export { useChatKitScript, type ChatKitScriptState } from "./use-chatkit-script.js";
export { ChatKitGate, type ChatKitGateProps } from "./chatkit-gate.js";
export {
  useSelectionAsk,
  SelectionAskButton,
  type SelectionAsk,
  type SelectionAskOptions,
  type SelectionAskButtonProps,
  type ChatKitHandle,
  type UserMessageParams,
} from "./selection-ask.js";
