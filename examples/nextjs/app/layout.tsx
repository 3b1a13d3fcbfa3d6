import type { Metadata } from "next";
import type { ReactNode } from "react";

import { ChatKitScript } from "@chatkit-lambda/web/next/script";

import "./globals.css";

export const metadata: Metadata = {
  title: "Reserved concurrency – Acme docs",
  description: "How reserved and provisioned concurrency work for Lambda functions.",
};

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <head>
        <ChatKitScript />
      </head>
      <body>{children}</body>
    </html>
  );
}
