// @vitest-environment node
import Script from "next/script";
import { describe, expect, it } from "vitest";

import { CHATKIT_SCRIPT_URL } from "../script.js";
import { ChatKitScript } from "./script.js";

describe("ChatKitScript", () => {
  it("is next/script with the CDN URL and strategy beforeInteractive", () => {
    const element = ChatKitScript({});
    expect(element.type).toBe(Script);
    expect(element.props).toMatchObject({ src: CHATKIT_SCRIPT_URL, strategy: "beforeInteractive" });
    expect(ChatKitScript({ src: "/local/chatkit.js" }).props.src).toBe("/local/chatkit.js");
  });
});
