// The walk-up kiosk's live state: one cardholder at a time, from "Insert your card" to "Done".
// Pulling the card, the idle timeout or the end of a session clears everything entered here and
// asks the backend to forget the code (kioskEnd); the PIN is only ever in the screens' own fields.
import { Channel } from "@tauri-apps/api/core";
import { commands, type CardEvent, type ErrorView, type JobEvent, type KioskPinRules, type KioskUpdate, type KioskWalkup } from "../bindings";
import { call, errorOf, fire, plain } from "./api";
import { DEFAULT_IDLE_SECONDS, kioskMessage, normalizeCode, pinProblem, stepWords, type KioskMessage } from "./kiosk";

export type KioskStage =
  | "signin"
  | "attract"
  | "looking"
  | "code"
  | "prove"
  | "pin"
  | "encoding"
  | "try"
  | "done"
  | "failed"
  | "closing";

/** Why a cardholder's session ended: what the attract screen says about it. */
export type EndReason = "pulled" | "pulled-encoding" | "pulled-updated" | "idle" | "done" | "restart";

export class KioskState {
  stage = $state<KioskStage>("signin");
  /** The kiosk account signed in (its display name, for the administrator). */
  account = $state<string | null>(null);
  /** Readers with a card in them, in the order they were seen. */
  cards = $state<string[]>([]);
  /** The reader this cardholder's session uses. */
  reader = $state<string | null>(null);
  walkup = $state<KioskWalkup | null>(null);
  /** Or: the card inserted has an update waiting (no code; its current PIN proves its holder). */
  update = $state<KioskUpdate | null>(null);
  /** What went wrong on the current screen. */
  message = $state<KioskMessage | null>(null);
  /** The error code behind `message` (tests, styling). */
  messageCode = $state<string | null>(null);
  /** On the attract screen: what happened to the last session. */
  notice = $state<string | null>(null);
  /** Encoding progress. */
  step = $state<{ index: number; total: number; words: string } | null>(null);
  busy = $state(false);
  exitOpen = $state(false);
  lastActivity = $state(Date.now());
  now = $state(Date.now());

  private stops: (() => void)[] = [];
  private watching = false;

  get idleSeconds(): number {
    return this.walkup?.idle_timeout_secs || this.update?.idle_timeout_secs || DEFAULT_IDLE_SECONDS;
  }

  /** Whom this session greets: the code's invitee or the recognised card's holder. */
  get personName(): string | null {
    return this.walkup?.person_name ?? this.update?.person_name ?? null;
  }

  /** The rules of the PIN the cardholder chooses. */
  get pinRules(): KioskPinRules | null {
    return this.walkup?.pin ?? this.update?.pin ?? null;
  }

  /** An interrupted card is finished now (started with this code, or updated here before). */
  get resuming(): boolean {
    return this.walkup?.resuming ?? this.update?.resuming ?? false;
  }

  /** Seconds left before the session ends for inactivity, or null when no session is open. */
  get idleLeft(): number | null {
    if (!this.inSession || this.stage === "encoding") return null;
    return Math.max(0, Math.ceil((this.lastActivity + this.idleSeconds * 1000 - this.now) / 1000));
  }

  /** A cardholder's session is open (a card is being worked with). */
  get inSession(): boolean {
    return ["looking", "code", "prove", "pin", "encoding", "try", "done", "failed"].includes(this.stage);
  }

  /** A card from an ended session is still in: it must come out before the next cardholder. */
  get waitingForRemoval(): boolean {
    return this.stage === "attract" && this.leftIn.length > 0;
  }

  start(): void {
    const tick = setInterval(() => this.tick(Date.now()), 1000);
    this.stops.push(() => clearInterval(tick));
  }

  stop(): void {
    this.stops.forEach((s) => s());
    this.stops = [];
  }

  /** Any key or pointer activity: the idle timer starts again. */
  activity(now: number = Date.now()): void {
    this.lastActivity = now;
    this.now = now;
  }

  tick(now: number): void {
    this.now = now;
    const left = this.idleLeft;
    // A finished card left in: back to the start without a word about stopping.
    if (left !== null && left <= 0) this.end(this.stage === "done" ? "done" : "idle");
  }

  // ----- the administrator signs the kiosk in -----

  async signIn(username: string, password: string): Promise<void> {
    this.message = null;
    this.messageCode = null;
    if (username.trim() === "" || password === "") {
      this.setMessage({ title: "Enter the kiosk account's user name and password.", text: "" }, "bad-input");
      return;
    }
    this.busy = true;
    try {
      const view = await call(commands.signIn(username.trim(), password));
      try {
        await call(commands.kioskReady());
      } catch (e) {
        fire(commands.signOut());
        const v = errorOf(e);
        this.setMessage(
          v.code === "not-permitted"
            ? { title: "This account cannot run the kiosk", text: "It lacks the walk-up permission (or walk-up is switched off). Sign in with a kiosk account." }
            : kioskMessage(v),
          v.code,
        );
        return;
      }
      this.account = view.display_name || view.username;
      this.stage = "attract";
      this.watch();
    } catch (e) {
      const v = errorOf(e);
      this.setMessage(
        v.code === "sign-in" || v.code === "sign-in-locked"
          ? { title: "The user name or password was not accepted", text: v.code === "sign-in-locked" ? "Too many failed attempts: wait, then try again." : "Check them and try again." }
          : kioskMessage(v),
        v.code,
      );
    } finally {
      this.busy = false;
    }
  }

  private watch(): void {
    if (this.watching) return;
    this.watching = true;
    const events = new Channel<CardEvent>();
    events.onmessage = (ev) => this.onCardEvent(ev);
    plain(commands.watchCards(events)).catch(() => {
      this.notice = "The card reader cannot be used. Please contact the help desk.";
    });
  }

  // ----- cards -----

  onCardEvent(ev: CardEvent): void {
    switch (ev.kind) {
      case "readers":
        this.cards = ev.readers.filter((r) => r.card_present).map((r) => r.name);
        if (this.reader !== null && !this.cards.includes(this.reader)) this.pulled();
        break;
      case "card_inserted":
      case "card_read":
      case "card_unreadable":
        if (!this.cards.includes(ev.reader)) this.cards = [...this.cards, ev.reader];
        break;
      case "card_removed":
      case "reader_removed":
        this.cards = this.cards.filter((r) => r !== ev.reader);
        if (ev.reader === this.reader) this.pulled();
        break;
      case "service_down":
        this.cards = [];
        if (this.reader !== null) this.pulled();
        break;
      default:
        break;
    }
    this.arrive();
  }

  /** Cards left in from an ended session: they must come out before the next cardholder. */
  leftIn = $state<string[]>([]);

  /** On the attract screen, the first reader with a card (not one left in) starts a session. */
  private arrive(): void {
    this.leftIn = this.leftIn.filter((r) => this.cards.includes(r));
    if (this.stage !== "attract" || this.reader !== null) return;
    const next = this.cards.find((r) => !this.leftIn.includes(r));
    if (next !== undefined) this.insert(next);
  }

  /** Cardholder sessions started: an answer for an ended one is not used. */
  private sessions = 0;

  private insert(reader: string): void {
    this.sessions++;
    this.reader = reader;
    this.notice = null;
    this.message = null;
    this.messageCode = null;
    this.stage = "looking";
    this.activity();
    void this.recognise(reader, this.sessions);
  }

  /** A card of ours with an update waiting needs no code; any other card (or no answer) asks for one. */
  private async recognise(reader: string, session: number): Promise<void> {
    let update: KioskUpdate | null;
    try {
      update = await call(commands.kioskRecognise(reader));
    } catch {
      update = null;
    }
    if (this.stage !== "looking" || this.sessions !== session) {
      if (update !== null) fire(commands.kioskEnd());
      return;
    }
    this.update = update;
    this.stage = update === null ? "code" : update.resuming ? "pin" : "prove";
    this.activity();
  }

  private pulled(): void {
    if (!this.inSession) {
      this.reader = null;
      return;
    }
    // An updated card taken out before its PIN was tried is complete: it is not to be brought back.
    const updated = this.stage === "try" && this.update !== null;
    this.end(
      this.stage === "encoding" ? "pulled-encoding" : this.stage === "done" ? "done" : updated ? "pulled-updated" : "pulled",
    );
  }

  // ----- the cardholder's steps -----

  async submitCode(typed: string): Promise<void> {
    if (this.busy) return;
    this.activity();
    const code = normalizeCode(typed);
    if (code === null) {
      this.setMessage(
        { title: "That is not an enrollment code", text: "The code has 16 letters and digits, in four groups like ABCD-EFGH-JKMN-PQRS. Check your enrollment email." },
        "bad-input",
      );
      return;
    }
    this.busy = true;
    this.message = null;
    try {
      const session = this.sessions;
      const walkup = await call(commands.kioskCheck(code));
      if (this.stage !== "code" || this.sessions !== session) {
        // The session ended while the code was checked: the backend forgets what it just kept.
        fire(commands.kioskEnd());
        return;
      }
      this.walkup = walkup;
      this.stage = "pin";
      this.activity();
    } catch (e) {
      if (this.stage === "code") this.setError(errorOf(e));
    } finally {
      this.busy = false;
    }
  }

  /** The cardholder's current PIN proves their card (it is checked on the card, which signs for the registry). */
  async submitProof(pin: string): Promise<void> {
    if (this.busy || this.update === null || this.reader === null) return;
    this.activity();
    if (pin === "") {
      this.setMessage({ title: "Type the PIN of your card.", text: "" }, "bad-input");
      return;
    }
    this.busy = true;
    this.message = null;
    this.messageCode = null;
    try {
      const session = this.sessions;
      await call(commands.kioskProve(pin, this.reader));
      if (this.stage !== "prove" || this.sessions !== session) return;
      this.stage = "pin";
      this.activity();
    } catch (e) {
      if (this.stage === "prove") this.setError(errorOf(e));
    } finally {
      this.busy = false;
    }
  }

  async submitPin(pin: string, again: string): Promise<void> {
    const rules = this.pinRules;
    if (this.busy || rules === null || this.reader === null) return;
    this.activity();
    const problem = pinProblem(rules, pin, again);
    if (problem !== null) {
      this.setMessage({ title: problem, text: "" }, "pin-not-allowed");
      return;
    }
    this.message = null;
    this.messageCode = null;
    this.stage = "encoding";
    this.step = null;
    const progress = new Channel<JobEvent>();
    progress.onmessage = (ev) => {
      if (ev.kind === "step") this.step = { index: ev.index, total: ev.total, words: stepWords(ev) };
    };
    this.busy = true;
    try {
      await call(
        this.update !== null
          ? commands.kioskUpdate(pin, again, this.reader, progress)
          : commands.kioskEncode(pin, again, this.reader, progress),
      );
      if (this.stage !== "encoding") return;
      this.stage = "try";
      this.activity();
    } catch (e) {
      if (this.stage !== "encoding") return;
      const v = errorOf(e);
      if (v.code === "pin-not-allowed" || v.code === "pins-differ") {
        this.stage = "pin";
        this.setError(v);
      } else if (v.code === "card-removed" || v.code === "no-card") {
        this.end("pulled-encoding");
      } else {
        this.stage = "failed";
        this.setError(v);
      }
    } finally {
      this.busy = false;
      this.activity();
    }
  }

  async tryPin(pin: string): Promise<void> {
    if (this.busy || this.reader === null) return;
    this.activity();
    if (pin === "") {
      this.setMessage({ title: "Type the PIN you just chose.", text: "" }, "bad-input");
      return;
    }
    this.busy = true;
    this.message = null;
    try {
      await call(commands.kioskTryPin(pin, this.reader));
      if (this.stage !== "try") return;
      this.stage = "done";
      // The code is used up: nothing of this cardholder is kept any longer.
      fire(commands.kioskEnd());
      this.activity();
    } catch (e) {
      if (this.stage === "try") this.setError(errorOf(e));
    } finally {
      this.busy = false;
    }
  }

  /** Ends the cardholder's session: back to "Insert your card", everything entered forgotten. */
  end(reason: EndReason): void {
    fire(commands.kioskEnd());
    const updating = this.update !== null;
    this.walkup = null;
    this.update = null;
    this.message = null;
    this.messageCode = null;
    this.step = null;
    this.busy = false;
    this.reader = null;
    this.leftIn = [...this.cards];
    this.stage = "attract";
    this.notice =
      reason === "pulled-encoding"
        ? updating
          ? "Your card was taken out before it was finished. Insert it again now to finish it."
          : "Your card was taken out before it was finished. Insert the same card again and enter the same code to finish it."
        : reason === "pulled-updated"
          ? "Your card is up to date. Use it with the new PIN you chose."
          : reason === "pulled"
          ? "Your card was taken out, so we stopped and forgot what was typed."
          : reason === "idle"
            ? "We stopped because nothing happened for a while, and forgot what was typed."
            : null;
  }

  // ----- the exit gesture -----

  openExit(): void {
    if (this.stage === "encoding" || this.stage === "closing") return;
    this.exitOpen = true;
  }

  closeExit(): void {
    this.exitOpen = false;
  }

  /** The kiosk account's password (and its user name before sign-in), checked at the registry; then the app ends. */
  async exit(username: string | null, password: string): Promise<ErrorView | null> {
    try {
      await call(commands.kioskExit(username, password));
      this.exitOpen = false;
      this.end("restart");
      this.stage = "closing";
      return null;
    } catch (e) {
      return errorOf(e);
    }
  }

  private setError(v: ErrorView): void {
    const path = this.update === null ? "code" : this.stage === "prove" ? "prove" : "update";
    this.setMessage(kioskMessage(v, path), v.code);
  }

  private setMessage(m: KioskMessage, code: string): void {
    this.message = m;
    this.messageCode = code;
  }
}

export const kiosk = new KioskState();
