// Scoring a sentence with the AFINN-165 lexicon (the `sentiment` package) and mapping
// the result into the polarity range the demo uses, [-1, 1].
//
// `sentiment` gives `comparative` = (sum of the AFINN scores of the words, each -5..+5,
// with simple negation such as "not good" flipping the sign) / (number of tokens). So
// comparative is in [-5, 5] but typical sentences land around ±0.2..±1.5. A linear
// comparative/5 would squash ordinary sentences to near zero, so we use tanh: it keeps
// the sign and zero ("the table is brown" stays 0), is monotonic (more positive text
// never scores lower), and stays strictly inside (-1, 1). "I love this" (comparative 1)
// → 0.76; "Terrible" (comparative -3) → -0.995.
import Sentiment from "sentiment";

const analyser = new Sentiment();

export interface Score {
  polarity: number;
  /** AFINN words that counted, for curious users and for debugging the lexicon. */
  positive: string[];
  negative: string[];
}

export function score(sentence: string): Score {
  const result = analyser.analyze(sentence);
  const polarity = Math.tanh(result.comparative);
  // Rounded for a stable, readable answer; rounding never flips a sign or leaves [-1, 1].
  return { polarity: Math.round(polarity * 1e4) / 1e4, positive: result.positive, negative: result.negative };
}
