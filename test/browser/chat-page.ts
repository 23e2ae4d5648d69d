/**
 * The chat page as a user drives it: type a nickname, join, send, read.
 * Every wait is bounded; assertions read what is on screen.
 */
import type { Browser, BrowserContext, Page } from "playwright-core";
import { watchErrors } from "./harness.ts";

export const WAIT = 10_000;

export interface ChatPage {
  page: Page;
  context: BrowserContext;
  errors: string[];
  /** Requests the page made, as URLs (polling requests included). */
  requests: string[];
  /** WebSocket URLs the page opened. */
  websockets: string[];
  close(): Promise<void>;
}

/** Opens the chat in a fresh browser context (its own storage, like another person's browser). */
export async function openChat(
  browser: Browser,
  baseUrl: string,
  { transports, viewport }: { transports?: string; viewport?: { width: number; height: number } } = {},
): Promise<ChatPage> {
  const context = await browser.newContext({ viewport: viewport ?? { width: 1100, height: 700 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  const errors = watchErrors(page);
  const requests: string[] = [];
  const websockets: string[] = [];
  page.on("request", (r) => requests.push(r.url()));
  page.on("websocket", (ws) => websockets.push(ws.url()));
  await page.goto(`${baseUrl}/${transports ? `?transports=${transports}` : ""}`, { timeout: WAIT });
  return { page, context, errors, requests, websockets, close: () => context.close() };
}

/**
 * Fills the login card and waits for the conversation view; with `room`,
 * then creates/enters that room from the sidebar (tests keep to their own rooms).
 */
export async function join(page: Page, nick: string, room?: string): Promise<void> {
  await page.locator("#nick").fill(nick);
  await page.locator("#join").click();
  await page.locator("#app[data-state=chat]").waitFor({ timeout: WAIT });
  if (room && room !== "general") {
    await page.locator("#new-room-name").fill(room);
    await page.locator("#new-room button").click();
    await page.waitForFunction((r) => document.getElementById("room-title")?.textContent === r, room, {
      timeout: WAIT,
    });
  }
}

/** The status pill's text, e.g. "connected · websocket". */
export async function waitForStatus(page: Page, text: string | RegExp, timeout = WAIT): Promise<void> {
  const source = typeof text === "string" ? text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&") : text.source;
  await page.waitForFunction(
    (src) => new RegExp(src).test(document.getElementById("status-label")?.textContent ?? ""),
    source,
    { timeout },
  );
}

/** Types and sends a message through the composer. */
export async function send(page: Page, text: string): Promise<void> {
  await page.locator("#message-input").fill(text);
  await page.locator("#send").click();
}

/** Waits for a message bubble from someone else with this text. */
export async function waitForMessage(page: Page, author: string, text: string, timeout = WAIT): Promise<void> {
  await page
    .locator(`.msg:not(.mine)[data-author="${author}"] .text`, { hasText: text })
    .first()
    .waitFor({ timeout });
}

/** Waits until my message with this text shows "delivered" (the server's ack). */
export async function waitForDelivered(page: Page, text: string, timeout = WAIT): Promise<void> {
  await page
    .locator(".msg.mine", { hasText: text })
    .locator('.state[data-state="delivered"]', { hasText: "delivered" })
    .first()
    .waitFor({ timeout });
}

/** Waits until the online list shows exactly these nicknames (any order). */
export async function waitForOnline(page: Page, nicks: string[], timeout = WAIT): Promise<void> {
  const want = [...nicks].sort().join(",");
  await page.waitForFunction(
    (w) =>
      Array.from(document.querySelectorAll("#online .nick"))
        .map((n) => n.textContent)
        .sort()
        .join(",") === w,
    want,
    { timeout },
  );
}

export async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).textContent({ timeout: WAIT })) ?? "";
}
