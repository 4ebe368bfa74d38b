# TCPServer.py -- the textbook TCP server: one connection at a time,
# one recv, reply, close.
# usage: python3 TCPServer.py [PORT]
import sys
from socket import *
serverPort = int(sys.argv[1]) if len(sys.argv) > 1 else 13000
serverSocket = socket(AF_INET, SOCK_STREAM)
serverSocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
serverSocket.bind(('127.0.0.1', serverPort))
serverSocket.listen(1)
print('listening on %s:%d (tcp)' % serverSocket.getsockname(), flush=True)
print('The server is ready to receive', flush=True)
while True:
    connectionSocket, addr = serverSocket.accept()
    sentence = connectionSocket.recv(1024).decode()
    capitalizedSentence = sentence.upper()
    connectionSocket.send(capitalizedSentence.encode())
    connectionSocket.close()
