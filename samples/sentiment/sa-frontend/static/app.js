// The page's behaviour, plain browser JavaScript (served as-is, no build step).
// It calls /sentiment and /feedback on the page's own origin: in the mesh the ingress
// gateway routes those paths to sa-webapp and sa-feedback.
/* global document, window, fetch */
"use strict";

const form = document.getElementById("analyse");
const input = document.getElementById("sentence");
const result = document.getElementById("result");
const emoji = document.getElementById("emoji");
const polarityText = document.getElementById("polarity");
const versionText = document.getElementById("version");
const feedback = document.getElementById("feedback");
const message = document.getElementById("message");

let last = null; // the answer the feedback buttons refer to

function say(text, isError) {
  message.textContent = text;
  message.classList.toggle("error", Boolean(isError));
}

function emojiFor(polarity) {
  if (polarity >= 0.5) return "😄";
  if (polarity > 0.05) return "🙂";
  if (polarity >= -0.05) return "😐";
  if (polarity > -0.5) return "🙁";
  return "😠";
}

async function postJson(path, body) {
  const response = await fetch(path, {
    method: "POST",
    // The signed-in user's token (auth.js), if any: the gateway's policies read it.
    headers: { "content-type": "application/json", ...(window.skiffAuth ? window.skiffAuth.authHeaders() : {}) },
    body: JSON.stringify(body),
  });
  let data = null;
  try {
    data = await response.json();
  } catch {
    // A gateway error page is not JSON; the status says enough.
  }
  if (!response.ok) {
    const detail = data && data.error ? data.error : response.statusText;
    throw new Error(`${path} answered ${response.status}: ${detail}`);
  }
  return data;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const sentence = input.value.trim();
  if (!sentence) return;
  const button = form.querySelector("button");
  button.disabled = true;
  say("Analysing…");
  try {
    const answer = await postJson("/sentiment", { sentence });
    last = answer;
    emoji.textContent = emojiFor(answer.polarity);
    polarityText.textContent = answer.polarity.toFixed(2);
    versionText.textContent = answer.version ? `sa-logic ${answer.version}` : "";
    feedback.querySelectorAll("button").forEach((b) => (b.disabled = false));
    result.hidden = false;
    say("");
  } catch (err) {
    result.hidden = true;
    say(err.message, true);
  } finally {
    button.disabled = false;
  }
});

feedback.addEventListener("click", async (event) => {
  const button = event.target.closest("button[data-correct]");
  if (!button || !last) return;
  const buttons = feedback.querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  try {
    await postJson("/feedback", {
      sentence: last.sentence,
      polarity: last.polarity,
      correct: button.dataset.correct === "true",
    });
    say("Thanks for the feedback!");
  } catch (err) {
    buttons.forEach((b) => (b.disabled = false));
    say(err.message, true);
  }
});
