// The rules of tic-tac-toe, as pure functions of the list of moves (cell indexes 0–8,
// row by row). X moves first, so move n is X's when n is even.

export const LINES = [
  [0, 1, 2], [3, 4, 5], [6, 7, 8],
  [0, 3, 6], [1, 4, 7], [2, 5, 8],
  [0, 4, 8], [2, 4, 6],
];

export const markOfMove = (index) => (index % 2 === 0 ? "X" : "O");

export function boardOf(moves) {
  const board = Array(9).fill("");
  moves.forEach((cell, index) => {
    board[cell] = markOfMove(index);
  });
  return board;
}

/** {mark, line} of the completed line, or null. */
export function winningLine(board) {
  for (const line of LINES) {
    const [a, b, c] = line;
    if (board[a] && board[a] === board[b] && board[a] === board[c]) return { mark: board[a], line };
  }
  return null;
}

export function isLegalMove(moves, cell) {
  return Number.isInteger(cell) && cell >= 0 && cell < 9 && !moves.includes(cell) &&
    !winningLine(boardOf(moves)) && moves.length < 9;
}

/** How the moves end the game: {kind: "win", mark, line}, {kind: "draw"}, or null. */
export function resultOf(moves) {
  const win = winningLine(boardOf(moves));
  if (win) return { kind: "win", ...win };
  if (moves.length === 9) return { kind: "draw" };
  return null;
}
